// Family C's DTOs as the Web API help page (seed 002) defines them, members in its order
// (Json.NET's order); DataContractSerializer orders them itself (ordinal).
using System;

namespace BusinessLayer.Dto.Request
{
    public class CreateTwoFactorSmsOtpRequest
    {
        public Guid UserId { get; set; }
        public string GsmNumber { get; set; }
        public int TwoFactorConfigurationId { get; set; }
        public int MaxSMSCount { get; set; }
        public int MaxSMSInterval { get; set; }
        public int OtpExpirationPeriod { get; set; }
        public bool IsSync { get; set; }
        public string Source { get; set; }
    }

    public class VerifyTwoFactorSmsOtpRequest
    {
        public Guid UserId { get; set; }
        public string OtpIdReference { get; set; }
        public string OtpCode { get; set; }
    }
}

namespace BusinessLayer.Dto.Response
{
    public enum CreateTwoFactorSmsOtpResponseCode
    {
        SuccessCode = 1000,
        MaxOtpRequestExceededCode = 4000,
        InvalidRequestCode = 4001,
        TwoFactorConfigurationNotFoundCode = 4002,
        OtpNotFoundCode = 4003,
        OtpExpiredCode = 4004,
        OtpMismatchCode = 4005,
        MaxVerifyAttemptsExceededCode = 4006,
        OtpAlreadyVerifiedCode = 4007,
        SmsSendFailedCode = 5000,
        InternalErrorCode = 5001,
    }

    public class CreateTwoFactorSmsOtpResponse
    {
        // "integer" on the help page: Web API prints that for Int32 and Int64 alike; a client
        // may well have declared int.
        public int Id { get; set; }
        public string OtpIdReference { get; set; }
        public string ReferenceCode { get; set; }
        public string OtpCode { get; set; }
        public int RemainingExpirationSeconds { get; set; }
        public string GsmNumber { get; set; }
        public string ExceptionMessage { get; set; }
        public bool Success { get; set; }
        public CreateTwoFactorSmsOtpResponseCode Code { get; set; }
    }

    public class VerifyTwoFactorSmsOtpResponse
    {
        public bool Success { get; set; }
        public CreateTwoFactorSmsOtpResponseCode Code { get; set; }
        public string ExceptionMessage { get; set; }
        public int RemainingAttempts { get; set; }
        public string OtpIdReference { get; set; }
        // API.md (2026-11-26): the number the code went to. Not on the seed page.
        public string GsmNumber { get; set; }
    }
}
