// Family A's DTOs as the ServiceStack metadata page (seed 000) defines them: plain classes,
// no [DataContract], so DataContractSerializer takes every public property, base class first,
// each class's members in ordinal order, in the namespace of the CLR namespace (Cdn.Api).
// The same file is compiled twice (see scripts/ci/dotnet-clients.sh): once as is, once with
// ServiceStackNamespace.cs, as a client made by "Add ServiceStack Reference" would be.
using System;
using System.Collections.Generic;

namespace Cdn.Api
{
    public class CognitoSendConfirmCodeRequest
    {
        public string EmailAddress { get; set; }
        public string ConfirmationCode { get; set; }
    }

    public class BaseResponse
    {
        public int Total { get; set; }
        public int OpCode { get; set; }
        public string ErrorText { get; set; }
        public string RequestTime { get; set; }
        public string ResponseTime { get; set; }
        public string TotalExecutionTime { get; set; }
        public bool CachedResponse { get; set; }
    }

    public class CognitoSendConfirmCodeResponse : BaseResponse
    {
        public CognitoUser Data { get; set; }
        public CognitoUser Data2 { get; set; }
    }

    public class CognitoUser
    {
        public CognitoUserSession SessionTokens { get; set; }
        public CognitoDevice Device { get; set; }
        public string UserID { get; set; }
        public string Username { get; set; }
        public CognitoUserPool UserPool { get; set; }
        public string ClientID { get; set; }
        public string Status { get; set; }
        public Dictionary<string, string> Attributes { get; set; }
        public Dictionary<string, string> Settings { get; set; }
    }

    public class CognitoUserSession
    {
        public string IdToken { get; set; }
        public string AccessToken { get; set; }
        public string RefreshToken { get; set; }
        public DateTime ExpirationTime { get; set; }
        public DateTime IssuedTime { get; set; }
    }

    public class CognitoDevice
    {
        public string DeviceKey { get; set; }
        public Dictionary<string, string> DeviceAttributes { get; set; }
        public DateTime CreateDate { get; set; }
        public DateTime LastModified { get; set; }
        public DateTime LastAuthenticated { get; set; }
        public CognitoUser User { get; set; }
        public string GroupDeviceKey { get; set; }
        public string DeviceSecret { get; set; }
    }

    public class CognitoUserPool
    {
        public string PoolID { get; set; }
        public string ClientID { get; set; }
    }
}
