// ASP.NET Web API's error body (HttpError): a dictionary, in JSON an object
// ({"Message": ..., "ModelState": {"request.x": ["..."]}, "remainingAttempts": 4}) and in XML
// <Error><Message/><ModelState><request.x/></ModelState></Error>, which HttpError reads and
// writes itself (IXmlSerializable). Mono's System.Web.Http lacks HttpError, so this is a
// client's own copy: same shape, same XML handling (nested elements as nested errors, text
// as strings, element order kept).
using System.Collections.Generic;
using System.Xml;
using System.Xml.Linq;
using System.Xml.Schema;
using System.Xml.Serialization;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Clients
{
    public class WebApiError
    {
        public string Message { get; set; }
        [JsonProperty(NullValueHandling = NullValueHandling.Ignore)]
        public Dictionary<string, string[]> ModelState { get; set; }
        [JsonProperty(NullValueHandling = NullValueHandling.Ignore)]
        public int? remainingAttempts { get; set; }
    }

    [XmlRoot("Error")]
    public class XmlError : IXmlSerializable
    {
        public readonly List<KeyValuePair<string, object>> Entries = new List<KeyValuePair<string, object>>();

        public XmlSchema GetSchema() { return null; }

        // Positioned on <Error>: reads it whole, as HttpError does.
        public void ReadXml(XmlReader reader)
        {
            Fill((XElement)XNode.ReadFrom(reader));
        }

        void Fill(XElement element)
        {
            foreach (var child in element.Elements())
            {
                string name = XmlConvert.DecodeName(child.Name.LocalName);
                if (child.HasElements)
                {
                    var nested = new XmlError();
                    nested.Fill(child);
                    Entries.Add(new KeyValuePair<string, object>(name, nested));
                }
                else
                {
                    Entries.Add(new KeyValuePair<string, object>(name, child.Value));
                }
            }
        }

        public void WriteXml(XmlWriter writer)
        {
            foreach (var entry in Entries)
            {
                writer.WriteStartElement(XmlConvert.EncodeLocalName(entry.Key));
                var child = entry.Value as XmlError;
                if (child != null) child.WriteXml(writer); else writer.WriteString((string)entry.Value);
                writer.WriteEndElement();
            }
        }

        public string Get(string name)
        {
            foreach (var entry in Entries) if (entry.Key == name) return entry.Value as string;
            return null;
        }

        public XmlError Child(string name)
        {
            foreach (var entry in Entries) if (entry.Key == name) return entry.Value as XmlError;
            return null;
        }
    }
}
