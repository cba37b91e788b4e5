# shellcheck shell=bash
# Sourced: the test destinations of the local stack (make run, the Lambda smoke test; sam local
# reads the same from local/sam-env.json). JSON, so not in local/local.env, which shells source.
# A variable already set wins. The quotes are the JSON's own, meant literally.
# shellcheck disable=SC2089,SC2090
[ -n "${TEST_DESTINATION_CODE:-}" ] || TEST_DESTINATION_CODE=135790
[ -n "${CNF_TEST_DESTINATIONS:-}" ] ||
  CNF_TEST_DESTINATIONS='{"demo":{"expires":"2099-12-31","numbers":["+447700900100","+12025550100"],"dailyUses":1000}}'
[ -n "${SIGNUP_TEST_DESTINATIONS:-}" ] ||
  SIGNUP_TEST_DESTINATIONS='{"expires":"2099-12-31","emailDomain":"review.example.test","dailyUses":1000}'
export TEST_DESTINATION_CODE CNF_TEST_DESTINATIONS SIGNUP_TEST_DESTINATIONS
