// Issue 14: the service as real .NET clients see it. For every endpoint and format this posts
// what a .NET client posts (its DTOs through .NET's own serializers), reads every answer
// (success and each error shape) into the DTOs, writes them back with the same serializer
// and compares that with what the service sent (Compare.cs). Full flows read the codes from
// the local server's inbox (GET /_local/messages).
//
// Serializers, as the clients of each family use them:
// - B, C (ASP.NET Web API clients, System.Net.Http.Formatting): Json.NET with default
//   settings for JSON, DataContractSerializer for XML. B also by DataContractJsonSerializer
//   with default settings (dictionaries as [{"Key":..,"Value":..}]).
// - A (ServiceStack clients): DataContractSerializer for XML, as ServiceStack's XmlServiceClient.
//   ServiceStack.Text (JsonServiceClient, CsvServiceClient) is not in Debian's Mono: JSON is
//   read with Json.NET (dates kept as the strings they are, as ServiceStack.Text keeps them),
//   CSV with an RFC 4180 reader and the Data cell with Json.NET.
//
// Usage: mono DotnetClients.exe http://127.0.0.1:PORT     exit status 0 when every check held
extern alias Cdn;
extern alias SS;

using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Json;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using BusinessLayer.Dto.Request;
using BusinessLayer.Dto.Response;
using KinPOS.API;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;
using Formatting = Newtonsoft.Json.Formatting;
using SFE.Auth.Core.Model;
using SFE.Auth.Core.Requests;
using CdnApi = Cdn::Cdn.Api;
using SsApi = SS::Cdn.Api;

namespace Clients
{
    public class Answer
    {
        public int Status;
        public string ContentType;
        public string Body;
    }

    // One way a client writes requests and reads answers.
    public abstract class Wire
    {
        public string Name;
        public string ContentType;
        public string Accept;
        public abstract string Write<T>(T value);
        public abstract T Read<T>(string label, Answer answer, int status, ICollection<string> pending) where T : class;
        // Web API's error body: its Message, its ModelState keys, remainingAttempts.
        public abstract Tuple<string, string[], int?> ReadError(string label, Answer answer, int status);
    }

    public class JsonNetWire : Wire
    {
        public JsonSerializerSettings Settings = new JsonSerializerSettings();
        public JsonNetWire() { Name = "JSON (Json.NET)"; ContentType = "application/json"; Accept = "application/json"; }
        public override string Write<T>(T value) { return JsonConvert.SerializeObject(value, Settings); }
        public override T Read<T>(string label, Answer answer, int status, ICollection<string> pending)
        {
            return Program.RoundTrip<T>(label, answer, status, "json", body => JsonConvert.DeserializeObject<T>(body, Settings),
                value => JsonConvert.SerializeObject(value, Settings), pending);
        }
        public override Tuple<string, string[], int?> ReadError(string label, Answer answer, int status)
        {
            var error = Read<WebApiError>(label, answer, status, Program.None);
            if (error == null) return null;
            return Tuple.Create(error.Message, error.ModelState == null ? new string[0] : error.ModelState.Keys.ToArray(), error.remainingAttempts);
        }
    }

    // DataContractJsonSerializer with default settings writes the requests; answers are read by
    // it too where it can (the GenericResult payloads), errors with Json.NET (a dictionary in
    // object form is beyond DataContractJsonSerializer's default settings).
    public class DataContractJsonWire : JsonNetWire
    {
        public DataContractJsonWire() { Name = "JSON (DataContractJsonSerializer)"; }
        public override string Write<T>(T value)
        {
            var stream = new MemoryStream();
            new DataContractJsonSerializer(typeof(T)).WriteObject(stream, value);
            return Encoding.UTF8.GetString(stream.ToArray());
        }
        public override T Read<T>(string label, Answer answer, int status, ICollection<string> pending)
        {
            if (typeof(T) == typeof(WebApiError)) return base.Read<T>(label, answer, status, pending);
            return Program.RoundTrip<T>(label, answer, status, "json",
                body => (T)new DataContractJsonSerializer(typeof(T)).ReadObject(new MemoryStream(Encoding.UTF8.GetBytes(body))),
                value => Write(value), pending);
        }
    }

    public class XmlWire : Wire
    {
        public XmlWire() { Name = "XML (DataContractSerializer)"; ContentType = "application/xml"; Accept = "application/xml"; }
        public override string Write<T>(T value) { return Program.ToXml(value); }
        public override T Read<T>(string label, Answer answer, int status, ICollection<string> pending)
        {
            return Program.RoundTrip<T>(label, answer, status, "xml", body => Program.FromXml<T>(body), value => Program.ToXml(value), pending);
        }
        public override Tuple<string, string[], int?> ReadError(string label, Answer answer, int status)
        {
            var error = Read<XmlError>(label, answer, status, Program.None);
            if (error == null) return null;
            var state = error.Child("ModelState");
            var remaining = error.Get("remainingAttempts");
            return Tuple.Create(error.Get("Message"), state == null ? new string[0] : state.Entries.Select(e => e.Key).ToArray(),
                remaining == null ? (int?)null : int.Parse(remaining));
        }
    }

    public static class Program
    {
        static string Base;
        static readonly HttpClient Http = new HttpClient();
        static int Checks, Failures;
        static readonly Random Random = new Random();
        public static readonly string[] None = new string[0];

        // Members the DTOs declare before every answer carries them: GsmNumber in the verify
        // answer (API.md, 2026-11-26). Where the service leaves one out, the comparison lets it
        // pass and counts it; where the service sends it, it is compared like any other member.
        static readonly string[] PendingMembers = { };

        public static int Main(string[] args)
        {
            Base = (args.Length > 0 ? args[0] : "http://127.0.0.1:3000").TrimEnd('/');
            Http.Timeout = TimeSpan.FromSeconds(30);
            var wires = new Wire[] { new JsonNetWire(), new XmlWire() };
            foreach (var wire in wires) FamilyC(wire);
            foreach (var wire in new Wire[] { new JsonNetWire(), new DataContractJsonWire(), new XmlWire() }) FamilyB(wire);
            FamilyA();
            Console.WriteLine();
            Console.WriteLine("{0} checks, {1} failed; {2} pending member(s) absent and let pass ({3})",
                Checks, Failures, Compare.Tolerated, string.Join(", ", PendingMembers));
            return Failures == 0 ? 0 : 1;
        }

        // ---------------------------------------------------------------- plumbing

        public static void Expect(bool ok, string label, string what)
        {
            Checks++;
            if (!ok)
            {
                Failures++;
                Console.WriteLine("FAIL " + label + ": " + what);
            }
        }

        static string Excerpt(string text) { return text == null ? "" : (text.Length > 600 ? text.Substring(0, 600) + "..." : text); }

        public static Answer Post(string path, string contentType, string accept, string body)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, Base + path);
            request.Content = new StringContent(body, Encoding.UTF8, contentType);
            if (accept != null) request.Headers.TryAddWithoutValidation("Accept", accept);
            var response = Http.SendAsync(request).Result;
            var type = response.Content.Headers.ContentType;
            return new Answer
            {
                Status = (int)response.StatusCode,
                ContentType = type == null ? "" : type.MediaType,
                Body = response.Content.ReadAsStringAsync().Result,
            };
        }

        public static string ToXml<T>(T value)
        {
            var text = new StringBuilder();
            using (var writer = XmlWriter.Create(text, new XmlWriterSettings { OmitXmlDeclaration = true }))
                Serializer<T>().WriteObject(writer, value);
            return text.ToString();
        }

        public static T FromXml<T>(string xml)
        {
            using (var reader = XmlReader.Create(new StringReader(xml)))
                return (T)Serializer<T>().ReadObject(reader);
        }

        static DataContractSerializer Serializer<T>()
        {
            // Web API's error is not a data contract: its root is <Error>, in no namespace.
            return typeof(T) == typeof(XmlError)
                ? new DataContractSerializer(typeof(T), "Error", "")
                : new DataContractSerializer(typeof(T));
        }

        // Reads the answer into T, writes T back, compares; null (and a failure) when T cannot
        // be read.
        public static T RoundTrip<T>(string label, Answer answer, int status, string format, Func<string, T> read,
            Func<T, string> write, ICollection<string> pending) where T : class
        {
            Expect(answer.Status == status, label, "status " + answer.Status + ", expected " + status + ": " + Excerpt(answer.Body));
            Expect(answer.ContentType.EndsWith("/" + format), label, "content type " + answer.ContentType + ", expected " + format);
            T value;
            try
            {
                value = read(answer.Body);
            }
            catch (Exception e)
            {
                Expect(false, label, "cannot read the answer as " + typeof(T).Name + ": " + e.GetBaseException().GetType().Name + ": "
                    + e.GetBaseException().Message + "\n    answer: " + Excerpt(answer.Body));
                return null;
            }
            string again = write(value);
            var sent = format == "csv" ? CsvAsJson(answer.Body) : answer.Body;
            var diffs = format == "xml" ? Compare.Xml(sent, again, pending) : Compare.Json(sent, again, pending);
            Expect(diffs.Count == 0, label, typeof(T).Name + " does not write back what was sent:\n    "
                + string.Join("\n    ", diffs) + "\n    sent:  " + Excerpt(answer.Body) + "\n    again: " + Excerpt(again));
            return value;
        }

        // The latest code sent to `to` on `channel` once at least `count` messages went there.
        static string CodeSentTo(string channel, string to, int count)
        {
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                var messages = JArray.Parse(Http.GetStringAsync(Base + "/_local/messages").Result)
                    .Where(m => (string)m["channel"] == channel && (string)m["to"] == to).ToList();
                if (messages.Count >= count)
                {
                    var match = Regex.Match((string)messages.Last()["body"], @"(?<!\d)\d{6}(?!\d)");
                    return match.Success ? match.Value : null;
                }
                if (DateTime.UtcNow > deadline) return null;
                System.Threading.Thread.Sleep(200);
            }
        }

        static int MessagesTo(string channel, string to)
        {
            return JArray.Parse(Http.GetStringAsync(Base + "/_local/messages").Result)
                .Count(m => (string)m["channel"] == channel && (string)m["to"] == to);
        }

        static string Digits(int n)
        {
            var text = new StringBuilder();
            for (int i = 0; i < n; i++) text.Append((char)('0' + Random.Next(10)));
            return text.ToString();
        }

        static string Letters(int n)
        {
            var text = new StringBuilder();
            for (int i = 0; i < n; i++) text.Append((char)('a' + Random.Next(26)));
            return text.ToString();
        }

        static string Other(string code) { return code == "000000" ? "111111" : "000000"; }

        // ---------------------------------------------------------------- family C

        // Each part stands alone, so one that fails does not hide what the others would find.
        static void FamilyC(Wire wire)
        {
            var c = new TwoFactorCalls(wire);
            c.Refusals();
            c.Flow(true);
            c.Flow(false);
        }

        class TwoFactorCalls
        {
            readonly Wire wire;
            readonly Guid user = Guid.NewGuid();

            public TwoFactorCalls(Wire wire) { this.wire = wire; }

            string Label(string what) { return "C " + wire.Name + " " + what; }

            CreateTwoFactorSmsOtpRequest Request(string number)
            {
                return new CreateTwoFactorSmsOtpRequest
                {
                    UserId = user, GsmNumber = number, TwoFactorConfigurationId = 1, MaxSMSCount = 5, MaxSMSInterval = 300,
                    OtpExpirationPeriod = 180, IsSync = true, Source = "dotnet-client",
                };
            }

            CreateTwoFactorSmsOtpResponse Create(string what, CreateTwoFactorSmsOtpRequest body, int status)
            {
                var answer = Post("/api/TwoFactor/CreateTwoFactorSmsOtp", wire.ContentType, wire.Accept, wire.Write(body));
                return wire.Read<CreateTwoFactorSmsOtpResponse>(Label(what), answer, status, None);
            }

            VerifyTwoFactorSmsOtpResponse Verify(string what, string id, string code, int status)
            {
                var body = new VerifyTwoFactorSmsOtpRequest { UserId = user, OtpIdReference = id, OtpCode = code };
                var answer = Post("/api/TwoFactor/VerifyTwoFactorSmsOtp", wire.ContentType, wire.Accept, wire.Write(body));
                return wire.Read<VerifyTwoFactorSmsOtpResponse>(Label(what), answer, status, PendingMembers);
            }

            public void Refusals()
            {
                var c = Create("create invalid", Request("not a number"), 400);
                Expect(c != null && c.Code == CreateTwoFactorSmsOtpResponseCode.InvalidRequestCode && c.ExceptionMessage != null,
                    Label("create invalid"), "not InvalidRequestCode");
                var unknown = Request("+90532" + Digits(7));
                unknown.TwoFactorConfigurationId = 99;
                c = Create("create unknown configuration", unknown, 400);
                Expect(c != null && c.Code == CreateTwoFactorSmsOtpResponseCode.TwoFactorConfigurationNotFoundCode,
                    Label("create unknown configuration"), "not TwoFactorConfigurationNotFoundCode");
                var limited = Request("+90532" + Digits(7));
                limited.MaxSMSCount = 1;
                Create("create within limit", limited, 200);
                c = Create("create over limit", limited, 429);
                Expect(c != null && c.Code == CreateTwoFactorSmsOtpResponseCode.MaxOtpRequestExceededCode, Label("create over limit"),
                    "not MaxOtpRequestExceededCode");
                var v = Verify("verify unknown", Guid.NewGuid().ToString(), "123456", 404);
                Expect(v != null && v.Code == CreateTwoFactorSmsOtpResponseCode.OtpNotFoundCode, Label("verify unknown"), "not OtpNotFoundCode");
            }

            // Create, read the SMS (sent before the answer, or through the stream), wrong code,
            // right code, again.
            public void Flow(bool sync)
            {
                string mode = sync ? "" : " (async)";
                var request = Request("+90532" + Digits(7));
                request.IsSync = sync;
                var created = Create("create" + mode, request, 200);
                if (created == null) return;
                Expect(created.Success && created.Code == CreateTwoFactorSmsOtpResponseCode.SuccessCode && created.Id > 0
                    && created.GsmNumber == request.GsmNumber && created.RemainingExpirationSeconds == 180, Label("create" + mode), "not a success");
                var code = CodeSentTo("sms", request.GsmNumber, 1);
                Expect(code != null, Label("create" + mode), "no SMS with a code within 20 s");
                if (code == null) return;
                var v = Verify("verify wrong code" + mode, created.OtpIdReference, Other(code), 400);
                Expect(v != null && v.Code == CreateTwoFactorSmsOtpResponseCode.OtpMismatchCode && v.RemainingAttempts == 4 && !v.Success,
                    Label("verify wrong code" + mode), "not OtpMismatchCode with 4 attempts left");
                v = Verify("verify" + mode, created.OtpIdReference, code, 200);
                Expect(v != null && v.Success && v.Code == CreateTwoFactorSmsOtpResponseCode.SuccessCode && v.OtpIdReference == created.OtpIdReference,
                    Label("verify" + mode), "not a success");
                v = Verify("verify again" + mode, created.OtpIdReference, code, 409);
                Expect(v != null && v.Code == CreateTwoFactorSmsOtpResponseCode.OtpAlreadyVerifiedCode, Label("verify again" + mode),
                    "not OtpAlreadyVerifiedCode");
            }
        }

        // ---------------------------------------------------------------- family B

        static void FamilyB(Wire wire)
        {
            Func<string, string> label = what => "B " + wire.Name + " " + what;
            const string generate = "/api/Auth/1/1/GenerateCnfCodeNotUser", validate = "/api/Auth/1/1/ValidateCnfCodeNotUser";
            Func<GenerateCnfCodeNotUserRequest, Answer> postGenerate = body => Post(generate, wire.ContentType, wire.Accept, wire.Write(body));
            Func<ValidateCnfCodeNotUserRequest, Answer> postValidate = body => Post(validate, wire.ContentType, wire.Accept, wire.Write(body));
            Func<string, GenerateCnfCodeNotUserRequest> request = app => new GenerateCnfCodeNotUserRequest
            {
                applicationId = app, applicationVersion = "3.2.1", applicationOS = "ANDROID", language = "en", deviceId = 11,
                deviceAltId = "7f9c2ba4e88f827d", ipAddress = "203.0.113.7", latitude = "-34.6", longitude = "-58.4",
                additionalParameters = new Dictionary<string, string> { { "campaign", "spring" }, { "channel", "app" } },
                userTypeAltId = "3698b76f-a5c0-4b04-b579-bc084019fb95", mobileNumber = "9115" + Digits(7), internationalPrefix = "54",
                emailAddress = "dotnet." + Letters(10) + "@tienda.online",
                auditInfo = new RequestAuditInfo { ipAddress = "203.0.113.7", latitude = "-34.6", longitude = "-58.4", countryCode = "AR" },
                recoveryId = 5, userRegistrationId = 6,
            };

            // Refusals first: they need no code, so a failing flow below hides none of them.
            var stranger = request("nobody");
            var error = wire.ReadError(label("generate unknown application"), postGenerate(stranger), 401);
            Expect(error != null && error.Item1 == "Application not authorized.", label("generate unknown application"), "not the English 401");
            var invalid = request("demo");
            invalid.mobileNumber = "12ab";
            invalid.ipAddress = "999.1.1.1";
            error = wire.ReadError(label("generate invalid"), postGenerate(invalid), 400);
            Expect(error != null && error.Item1 == "The request is invalid." && error.Item2.Contains("request.mobileNumber")
                && error.Item2.Contains("request.ipAddress"), label("generate invalid"), "ModelState lacks mobileNumber or ipAddress");

            var unknownId = new ValidateCnfCodeNotUserRequest
            {
                applicationId = "demo", confirmationId = Guid.NewGuid(), confirmationCode = "123456", language = "en",
            };
            var refused = wire.ReadError(label("validate unknown id"), postValidate(unknownId), 404);
            Expect(refused != null && refused.Item1 == "Confirmation code not found.", label("validate unknown id"), "not the English 404");

            // Encrypted answers: no payload in clear (Mono 6.8 has no AES-GCM to open it); validated
            // by destination. DataContractJsonSerializer writes the absent `response` back as null,
            // which the answer leaves out (as the seed's sample does), so that client's requests are
            // read back with Json.NET here.
            var secret = request("demo-encrypted");
            secret.mobileNumber = null;
            secret.internationalPrefix = null;
            var sealedResult = wire is DataContractJsonWire
                ? new JsonNetWire().Read<GenericResult<GenerateCnfCodeNotUserResponse>>(label("generate encrypted"), postGenerate(secret), 200, None)
                : wire.Read<GenericResult<GenerateCnfCodeNotUserResponse>>(label("generate encrypted"), postGenerate(secret), 200, None);
            Expect(sealedResult != null && !string.IsNullOrEmpty(sealedResult.encryptedData) && sealedResult.response == null,
                label("generate encrypted"), "no encryptedData, or a payload in clear");
            var sealedCode = CodeSentTo("email", secret.emailAddress, 1);
            var byAddress = new ValidateCnfCodeNotUserRequest { applicationId = "demo-encrypted", emailAddress = secret.emailAddress, confirmationCode = sealedCode };
            var sealedValid = wire is DataContractJsonWire
                ? new JsonNetWire().Read<GenericResult<ValidateCnfCodeNotUserResponse>>(label("validate encrypted"), postValidate(byAddress), 200, None)
                : wire.Read<GenericResult<ValidateCnfCodeNotUserResponse>>(label("validate encrypted"), postValidate(byAddress), 200, None);
            Expect(sealedValid != null && !string.IsNullOrEmpty(sealedValid.encryptedData), label("validate encrypted"), "no encryptedData");

            // Plain answer, both channels; wrong code, right code, again.
            var first = request("demo");
            var generated = wire.Read<GenericResult<GenerateCnfCodeNotUserResponse>>(label("generate"), postGenerate(first), 200, None);
            if (generated == null || generated.response == null)
            {
                Expect(false, label("generate"), "no response payload");
                return;
            }
            var payload = generated.response;
            Expect(payload.confirmationId != Guid.Empty && payload.channels != null && payload.channels.SequenceEqual(new[] { "SMS", "EMAIL" })
                && payload.expiresInSeconds > 0, label("generate"), "payload not read (empty confirmationId or channels)");
            // A code of its own to each channel, under one confirmationId (docs/api.md, family B).
            var code = CodeSentTo("email", first.emailAddress, 1);
            var smsCode = CodeSentTo("sms", "+54" + first.mobileNumber, 1);
            Expect(code != null && smsCode != null && code != smsCode, label("generate"), "no code, or not a code of its own by SMS and by e-mail");
            if (code == null) return;
            Func<string, ValidateCnfCodeNotUserRequest> byId = c => new ValidateCnfCodeNotUserRequest
            {
                applicationId = "demo", confirmationId = payload.confirmationId, confirmationCode = c, language = "en",
            };
            var wrong = new[] { "000000", "111111", "222222" }.First(c => c != code && c != smsCode);
            error = wire.ReadError(label("validate wrong code"), postValidate(byId(wrong)), 400);
            Expect(error != null && error.Item3 == 4 && error.Item1 == "The confirmation code is incorrect.", label("validate wrong code"),
                "not the English mismatch with 4 attempts left");
            var validated = wire.Read<GenericResult<ValidateCnfCodeNotUserResponse>>(label("validate"), postValidate(byId(code)), 200, None);
            Expect(validated != null && validated.response != null && validated.response.valid
                && validated.response.confirmationId == payload.confirmationId, label("validate"), "not valid, or another confirmationId");
            error = wire.ReadError(label("validate again"), postValidate(byId(code)), 409);
            Expect(error != null && error.Item1 == "The confirmation code has already been used.", label("validate again"), "not the English 409");
            var again = request("demo");
            again.mobileNumber = first.mobileNumber;
            again.emailAddress = first.emailAddress;
            error = wire.ReadError(label("generate again at once"), postGenerate(again), 429);
            Expect(error != null && error.Item1 == "Too many codes requested; try again later.", label("generate again at once"), "not the English 429");

        }

        // ---------------------------------------------------------------- family A

        // How the request body is written: JSON, or XML in the DTOs' namespace (Cdn.Api's, or
        // ServiceStack's usual one).
        enum Body { Json, Xml, ServiceStackXml }

        class Route
        {
            public string Name, Path, Accept, Format, ContentType;
            public Body Body;
        }

        static readonly JsonSerializerSettings ServiceStackJson = new JsonSerializerSettings { DateParseHandling = DateParseHandling.None };

        static readonly string[] CsvHeader = { "Total", "OpCode", "ErrorText", "RequestTime", "ResponseTime", "TotalExecutionTime", "CachedResponse", "Data", "Data2" };

        static void FamilyA()
        {
            const string path = "/CognitoSendConfirmCodeRequest";
            var routes = new[]
            {
                new Route { Name = "Accept json", Path = path, Accept = "application/json", Format = "json", Body = Body.Json, ContentType = "application/json" },
                new Route { Name = "Accept xml", Path = path, Accept = "application/xml", Format = "xml", Body = Body.Xml, ContentType = "application/xml" },
                // The seed's own sample: JSON labelled text/csv.
                new Route { Name = "Accept csv", Path = path, Accept = "text/csv", Format = "csv", Body = Body.Json, ContentType = "text/csv" },
                new Route { Name = ".xml suffix", Path = path + ".xml", Accept = null, Format = "xml", Body = Body.ServiceStackXml, ContentType = "application/xml" },
                new Route { Name = "?format=csv", Path = path + "?format=csv", Accept = "application/xml", Format = "csv", Body = Body.Xml, ContentType = "application/xml" },
                new Route { Name = "/json/reply", Path = "/json/reply/CognitoSendConfirmCodeRequest", Accept = "application/xml", Format = "json", Body = Body.Json, ContentType = "application/json" },
                new Route { Name = "/xml/reply", Path = "/xml/reply/CognitoSendConfirmCodeRequest", Accept = "application/json", Format = "xml", Body = Body.ServiceStackXml, ContentType = "application/xml" },
                new Route { Name = "/xml/reply?format=json", Path = "/xml/reply/CognitoSendConfirmCodeRequest?format=json", Accept = "text/csv", Format = "xml", Body = Body.Xml, ContentType = "application/xml" },
                new Route { Name = "/csv/reply", Path = "/csv/reply/CognitoSendConfirmCodeRequest", Accept = "application/json", Format = "csv", Body = Body.Json, ContentType = "application/json" },
            };
            foreach (var route in routes) SignUp(route);
        }

        // OpCode, user status, email_verified of an answer, as read by the client.
        class Seen
        {
            public int OpCode;
            public string Status, Verified, ErrorText;
        }

        static Seen Read(Route route, string label, Answer answer, int status)
        {
            if (route.Format == "json")
            {
                var r = RoundTrip<CdnApi.CognitoSendConfirmCodeResponse>(label, answer, status, "json",
                    body => JsonConvert.DeserializeObject<CdnApi.CognitoSendConfirmCodeResponse>(body, ServiceStackJson),
                    value => JsonConvert.SerializeObject(value, ServiceStackJson), None);
                return r == null ? null : See(r.OpCode, r.ErrorText, r.Data == null ? null : r.Data.Status, r.Data == null ? null : r.Data.Attributes);
            }
            if (route.Format == "xml" && route.Body == Body.ServiceStackXml)
            {
                var r = RoundTrip<SsApi.CognitoSendConfirmCodeResponse>(label, answer, status, "xml", FromXml<SsApi.CognitoSendConfirmCodeResponse>, ToXml, None);
                return r == null ? null : See(r.OpCode, r.ErrorText, r.Data == null ? null : r.Data.Status, r.Data == null ? null : r.Data.Attributes);
            }
            if (route.Format == "xml")
            {
                var r = RoundTrip<CdnApi.CognitoSendConfirmCodeResponse>(label, answer, status, "xml", FromXml<CdnApi.CognitoSendConfirmCodeResponse>, ToXml, None);
                return r == null ? null : See(r.OpCode, r.ErrorText, r.Data == null ? null : r.Data.Status, r.Data == null ? null : r.Data.Attributes);
            }
            var csv = RoundTrip<CdnApi.CognitoSendConfirmCodeResponse>(label, answer, status, "csv", FromCsv, ToCsv, None);
            return csv == null ? null : See(csv.OpCode, csv.ErrorText, csv.Data == null ? null : csv.Data.Status, csv.Data == null ? null : csv.Data.Attributes);
        }

        static Seen See(int opCode, string errorText, string status, Dictionary<string, string> attributes)
        {
            string verified = null;
            if (attributes != null) attributes.TryGetValue("email_verified", out verified);
            return new Seen { OpCode = opCode, ErrorText = errorText, Status = status, Verified = verified };
        }

        static string Write(Route route, string address, string code)
        {
            switch (route.Body)
            {
                case Body.Xml: return ToXml(new CdnApi.CognitoSendConfirmCodeRequest { EmailAddress = address, ConfirmationCode = code });
                case Body.ServiceStackXml: return ToXml(new SsApi.CognitoSendConfirmCodeRequest { EmailAddress = address, ConfirmationCode = code });
                default: return JsonConvert.SerializeObject(new CdnApi.CognitoSendConfirmCodeRequest { EmailAddress = address, ConfirmationCode = code });
            }
        }

        static void SignUp(Route route)
        {
            Func<string, string> label = what => "A " + route.Name + " " + what;
            Func<string, string, Answer> post = (to, withCode) => Post(route.Path, route.ContentType, route.Accept, Write(route, to, withCode));
            var address = "dotnet." + Letters(12) + "@example.com";

            var seen = Read(route, label("invalid address"), post("not an address", null), 400);
            Expect(seen != null && seen.OpCode == 1001 && !string.IsNullOrEmpty(seen.ErrorText), label("invalid address"), "not InvalidParameter (1001)");
            seen = Read(route, label("send"), post(address, null), 200);
            Expect(seen != null && seen.OpCode == 0 && seen.Status == "UNCONFIRMED" && seen.Verified == "false", label("send"), "not an UNCONFIRMED user");
            seen = Read(route, label("send again at once"), post(address, null), 429);
            Expect(seen != null && seen.OpCode == 1005, label("send again at once"), "not LimitExceeded (1005)");
            var code = CodeSentTo("email", address, 1);
            Expect(code != null, label("send"), "no e-mail with a code");
            if (code == null) return;
            seen = Read(route, label("confirm wrong code"), post(address, Other(code)), 400);
            Expect(seen != null && seen.OpCode == 1002, label("confirm wrong code"), "not CodeMismatch (1002)");
            seen = Read(route, label("confirm"), post(address, code), 200);
            Expect(seen != null && seen.OpCode == 0 && seen.Status == "CONFIRMED" && seen.Verified == "true", label("confirm"), "not a CONFIRMED user");
            seen = Read(route, label("confirm again"), post(address, code), 409);
            Expect(seen != null && seen.OpCode == 1007, label("confirm again"), "not AlreadyConfirmed (1007)");
        }

        // ServiceStack's CSV: a header of the response's members, one row, nested objects as
        // JSON in their cell, null as an empty cell.
        static CdnApi.CognitoSendConfirmCodeResponse FromCsv(string text)
        {
            var rows = Csv.Read(text);
            if (rows.Count != 2) throw new FormatException(rows.Count + " rows, expected a header and one row");
            if (!rows[0].SequenceEqual(CsvHeader)) throw new FormatException("header " + string.Join(",", rows[0]));
            var cell = rows[1];
            Func<string, CdnApi.CognitoUser> user = json => json == "" ? null : JsonConvert.DeserializeObject<CdnApi.CognitoUser>(json, ServiceStackJson);
            return new CdnApi.CognitoSendConfirmCodeResponse
            {
                Total = int.Parse(cell[0]), OpCode = int.Parse(cell[1]), ErrorText = cell[2] == "" ? null : cell[2],
                RequestTime = cell[3], ResponseTime = cell[4], TotalExecutionTime = cell[5], CachedResponse = bool.Parse(cell[6]),
                Data = user(cell[7]), Data2 = user(cell[8]),
            };
        }

        // The CSV as sent, in the form ToCsv writes.
        static string CsvAsJson(string text)
        {
            var rows = Csv.Read(text);
            var row = new JArray();
            for (int i = 0; i < rows[1].Length; i++)
                row.Add(i >= 7 && rows[1][i] != "" ? Compare.Parse(rows[1][i]) : (JToken)rows[1][i]);
            return new JObject { { "header", new JArray(rows[0]) }, { "row", row } }.ToString(Formatting.None);
        }

        // Written back as JSON of the header and the row, so the comparison sees every cell
        // (the Data cell as the object it holds).
        static string ToCsv(CdnApi.CognitoSendConfirmCodeResponse r)
        {
            Func<CdnApi.CognitoUser, JToken> user = u => u == null ? (JToken)"" : JToken.FromObject(u);
            return new JObject
            {
                { "header", new JArray(CsvHeader) },
                { "row", new JArray(r.Total.ToString(), r.OpCode.ToString(), r.ErrorText ?? "", r.RequestTime, r.ResponseTime,
                    r.TotalExecutionTime, r.CachedResponse ? "true" : "false", user(r.Data), user(r.Data2)) },
            }.ToString(Formatting.None);
        }
    }

    // RFC 4180.
    public static class Csv
    {
        public static List<string[]> Read(string text)
        {
            var rows = new List<string[]>();
            var row = new List<string>();
            var cell = new StringBuilder();
            bool quoted = false, any = false;
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (quoted)
                {
                    if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { cell.Append('"'); i++; }
                    else if (c == '"') quoted = false;
                    else cell.Append(c);
                }
                else if (c == '"') { quoted = true; any = true; }
                else if (c == ',') { row.Add(cell.ToString()); cell.Clear(); any = true; }
                else if (c == '\r' || c == '\n')
                {
                    if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                    row.Add(cell.ToString()); cell.Clear();
                    rows.Add(row.ToArray()); row = new List<string>(); any = false;
                }
                else { cell.Append(c); any = true; }
            }
            if (any || cell.Length > 0) { row.Add(cell.ToString()); rows.Add(row.ToArray()); }
            return rows;
        }
    }
}
