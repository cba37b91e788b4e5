// Family B's DTOs as the Web API help page (seed 001) defines them. Plain classes: Json.NET
// writes declared properties, derived class first (the help page's JSON order);
// DataContractSerializer writes base class first, ordinal order, each class in the namespace
// of its CLR namespace (the help page's XML). The base class's name is not on the page; its
// members and their order are (the first ten elements of the XML sample).
using System;
using System.Collections.Generic;
using Newtonsoft.Json;

namespace SFE.Auth.Core.Model
{
    public class RequestAuditInfo
    {
        public string ipAddress { get; set; }
        public string latitude { get; set; }
        public string longitude { get; set; }
        public string countryCode { get; set; }
    }
}

namespace SFE.Auth.Core.Requests
{
    using SFE.Auth.Core.Model;

    public class ApplicationRequest
    {
        public string applicationId { get; set; }
        public string applicationVersion { get; set; }
        public string applicationOS { get; set; }
        public string language { get; set; }
        public int? deviceId { get; set; }
        public string deviceAltId { get; set; }
        public string ipAddress { get; set; }
        public string latitude { get; set; }
        public string longitude { get; set; }
        public Dictionary<string, string> additionalParameters { get; set; }
    }

    public class GenerateCnfCodeNotUserRequest : ApplicationRequest
    {
        public string userTypeAltId { get; set; }
        public string mobileNumber { get; set; }
        public string internationalPrefix { get; set; }
        public string emailAddress { get; set; }
        public RequestAuditInfo auditInfo { get; set; }
        public int? recoveryId { get; set; }
        public int? userRegistrationId { get; set; }
    }

    // Not on the seed page: API.md's fields, in its order.
    public class ValidateCnfCodeNotUserRequest
    {
        public string applicationId { get; set; }
        public Guid? confirmationId { get; set; }
        public string mobileNumber { get; set; }
        public string internationalPrefix { get; set; }
        public string emailAddress { get; set; }
        public string confirmationCode { get; set; }
        public string language { get; set; }
    }

    // The payloads, as API.md describes them.
    public class GenerateCnfCodeNotUserResponse
    {
        public Guid confirmationId { get; set; }
        public List<string> channels { get; set; }
        public int expiresInSeconds { get; set; }
        public int resendAfterSeconds { get; set; }
        public string maskedMobileNumber { get; set; }
        public string maskedEmailAddress { get; set; }
    }

    public class ValidateCnfCodeNotUserResponse
    {
        public Guid confirmationId { get; set; }
        public bool valid { get; set; }
    }
}

namespace KinPOS.API
{
    public class GenericResult<T>
    {
        public string encryptedData { get; set; }
        // The seed's JSON sample leaves `response` out when it is null.
        [JsonProperty(NullValueHandling = NullValueHandling.Ignore)]
        public T response { get; set; }
    }
}
