// Compiled, never run, by scripts/ci/check-openapi.sh: the types openapi-typescript generates from
// openapi.yaml must carry what an integrator relies on, one request and one answer per family.
// Each `@ts-expect-error` states a rule of the contract; it fails the compile if the document
// stops saying so. Read fields rather than build whole answers, so that a field added to an
// answer does not break this file.
import type { paths } from "./generated/api";

type Json<T> = T extends { content: { "application/json": infer Body } } ? Body : never;

// Family C: two-factor SMS OTP.
type CreateOtp = paths["/api/TwoFactor/CreateTwoFactorSmsOtp"]["post"];
type VerifyOtp = paths["/api/TwoFactor/VerifyTwoFactorSmsOtp"]["post"];

export const createOtp: Json<CreateOtp["requestBody"]> = {
  UserId: "3698b76f-a5c0-4b04-b579-bc084019fb95",
  GsmNumber: "+905321234567",
  TwoFactorConfigurationId: 1,
  MaxSMSCount: 5,
  IsSync: true,
  Source: null,
};
// @ts-expect-error TwoFactorConfigurationId is required
export const createOtpWithoutProfile: Json<CreateOtp["requestBody"]> = { UserId: "u", GsmNumber: "+905321234567" };

export function otpToVerify(answer: Json<CreateOtp["responses"][200]>): string | null {
  return answer.Success && answer.Code === 1000 ? answer.OtpIdReference : null;
}
// @ts-expect-error Code is one of the documented numbers
export const unknownCode: Json<CreateOtp["responses"][429]>["Code"] = 1234;

export const verifyOtp: Json<VerifyOtp["requestBody"]> = {
  UserId: "3698b76f-a5c0-4b04-b579-bc084019fb95",
  OtpIdReference: "579576f8-f4ff-4547-8140-a08a0de61a1d",
  OtpCode: "011005",
};
export function attemptsLeft(answer: Json<VerifyOtp["responses"][400]>): number {
  return answer.Code === 4005 ? answer.RemainingAttempts : 0;
}

// Family B: codes before registration.
type Generate = paths["/api/Auth/1/1/GenerateCnfCodeNotUser"]["post"];
type Validate = paths["/api/Auth/1/1/ValidateCnfCodeNotUser"]["post"];

export const generate: Json<Generate["requestBody"]> = {
  applicationId: "demo",
  internationalPrefix: "54",
  mobileNumber: "91123456789",
  emailAddress: "ana@example.com",
  language: "es",
  auditInfo: { ipAddress: "203.0.113.7", countryCode: "AR" },
};
// @ts-expect-error applicationId is required
export const generateWithoutApplication: Json<Generate["requestBody"]> = { emailAddress: "ana@example.com" };

/** An application with a key gets `encryptedData`; one without gets the plain `response`. */
export function confirmationId(answer: Json<Generate["responses"][200]>): string | null {
  return answer.encryptedData === null ? answer.response.confirmationId : null;
}
export function sentBy(answer: Json<Generate["responses"][200]>): ("SMS" | "EMAIL")[] {
  // @ts-expect-error an encrypted answer has no plain response to read
  return answer.response.channels;
}
export function invalidFields(answer: Json<Generate["responses"][400]>): string[] {
  return Object.keys(answer.ModelState);
}

export const validate: Json<Validate["requestBody"]> = {
  applicationId: "demo",
  confirmationId: "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
  confirmationCode: "123456",
};
/** A 400 is either the invalid-request answer or a wrong code with its remaining attempts. */
export function remainingAttempts(answer: Json<Validate["responses"][400]>): number | null {
  return "remainingAttempts" in answer ? answer.remainingAttempts : null;
}
export function refusal(answer: Json<Validate["responses"][429]>): string {
  return answer.Message;
}

// Family A: sign-up confirmation (also under .json, .xml and .csv, and with ?format=).
type Signup = paths["/CognitoSendConfirmCodeRequest"]["post"];

export const sendCode: Json<Signup["requestBody"]> = { EmailAddress: "ana@example.com" };
export const confirmUser: Json<Signup["requestBody"]> = { EmailAddress: "ana@example.com", ConfirmationCode: "123456" };
// @ts-expect-error EmailAddress is required
export const confirmWithoutEmail: Json<Signup["requestBody"]> = { ConfirmationCode: "123456" };
export const asCsv: NonNullable<Signup["parameters"]["query"]> = { format: "csv" };
export const csvBody: Signup["requestBody"]["content"]["text/csv"] = '{"EmailAddress":"ana@example.com"}';

export function confirmedEmail(answer: Json<Signup["responses"][200]>): string | null {
  return answer.OpCode === 0 && answer.Data !== null && answer.Data.Status === "CONFIRMED"
    ? answer.Data.Attributes.email
    : null;
}
export function failure(answer: Json<Signup["responses"][400]>): string | null {
  return answer.OpCode === 0 ? null : answer.ErrorText;
}
