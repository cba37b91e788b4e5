/* The least a Lambda runtime client can do: GET the next event, POST "{}" as its answer.
 * bench/cold_start.py times it like the functions, as the floor of this machine and stub
 * (exec, dynamic loading of libc, two loopback connections). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int dial(const char *api) {
    char host[64];
    snprintf(host, sizeof host, "%s", api);
    char *colon = strchr(host, ':');
    if (!colon) exit(2);
    *colon = 0;
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
    inet_pton(AF_INET, host, &address.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&address, sizeof address)) exit(2);
    return s;
}

static void exchange(const char *api, const char *request) {
    char buf[65536];
    int s = dial(api);
    size_t n = strlen(request);
    if (write(s, request, n) != (ssize_t)n || read(s, buf, sizeof buf) <= 0) exit(2);
    close(s);
}

int main(void) {
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    if (!api) return 2;
    char request[512];
    snprintf(request, sizeof request,
             "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n", api);
    exchange(api, request);
    snprintf(request, sizeof request,
             "POST /2018-06-01/runtime/invocation/bench-request-1/response HTTP/1.1\r\n"
             "Host: %s\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", api);
    exchange(api, request);
    return 0;
}
