// What the service sent against what the DTOs serialize back to.
// XML: the infosets: same elements (namespace and local name), same attributes other than
// namespace declarations (i:nil), same text, same order; prefixes and declarations may differ.
// JSON: same members (any order) and values (type and value); arrays in order.
using System.Collections.Generic;
using System.Linq;
using System.Xml.Linq;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Clients
{
    public static class Compare
    {
        // Members the DTOs declare ahead of the service (see Program.PendingMembers): absent
        // from an answer and null in the DTO, they are let pass and counted.
        public static int Tolerated;

        public static List<string> Xml(string sent, string again, ICollection<string> pending)
        {
            var diffs = new List<string>();
            Element(XDocument.Parse(sent).Root, XDocument.Parse(again).Root, "", diffs, pending);
            return diffs;
        }

        static bool IsNil(XElement e)
        {
            var nil = e.Attribute(XName.Get("nil", "http://www.w3.org/2001/XMLSchema-instance"));
            return nil != null && nil.Value == "true";
        }

        static void Element(XElement sent, XElement again, string path, List<string> diffs, ICollection<string> pending)
        {
            path = path + "/" + sent.Name.LocalName;
            if (sent.Name != again.Name)
            {
                diffs.Add(path + ": element " + sent.Name + " came back as " + again.Name);
                return;
            }
            var a = sent.Attributes().Where(x => !x.IsNamespaceDeclaration).ToDictionary(x => x.Name, x => x.Value);
            var b = again.Attributes().Where(x => !x.IsNamespaceDeclaration).ToDictionary(x => x.Name, x => x.Value);
            foreach (var x in a)
                if (!b.ContainsKey(x.Key) || b[x.Key] != x.Value) diffs.Add(path + ": attribute " + x.Key + "=\"" + x.Value + "\" lost");
            foreach (var x in b)
                if (!a.ContainsKey(x.Key)) diffs.Add(path + ": attribute " + x.Key + "=\"" + x.Value + "\" added");
            var left = sent.Elements().ToList();
            var right = again.Elements().Where(e => !(IsNil(e) && pending.Contains(e.Name.LocalName) && !sent.Elements(e.Name).Any() && Count())).ToList();
            if (!sent.HasElements && !again.HasElements)
            {
                if (sent.Value != again.Value) diffs.Add(path + ": \"" + sent.Value + "\" came back as \"" + again.Value + "\"");
                return;
            }
            for (int i = 0; i < System.Math.Max(left.Count, right.Count); i++)
            {
                if (i >= right.Count) { diffs.Add(path + ": " + left[i].Name + " (position " + i + ") lost"); continue; }
                if (i >= left.Count) { diffs.Add(path + ": " + right[i].Name + " (position " + i + ") added"); continue; }
                Element(left[i], right[i], path, diffs, pending);
            }
        }

        static bool Count() { Tolerated++; return true; }

        public static JToken Parse(string json)
        {
            // Strings stay strings: dates are compared as the text sent.
            var reader = new JsonTextReader(new System.IO.StringReader(json)) { DateParseHandling = DateParseHandling.None };
            return JToken.ReadFrom(reader);
        }

        public static List<string> Json(string sent, string again, ICollection<string> pending)
        {
            var diffs = new List<string>();
            Token(Parse(sent), Parse(again), "$", diffs, pending);
            return diffs;
        }

        static void Token(JToken sent, JToken again, string path, List<string> diffs, ICollection<string> pending)
        {
            if (sent.Type != again.Type)
            {
                diffs.Add(path + ": " + sent.Type + " " + sent.ToString(Formatting.None) + " came back as " + again.Type + " " + again.ToString(Formatting.None));
                return;
            }
            var a = sent as JObject;
            if (a != null)
            {
                var b = (JObject)again;
                foreach (var p in a.Properties())
                {
                    var q = b.Property(p.Name);
                    if (q == null) diffs.Add(path + "." + p.Name + " lost");
                    else Token(p.Value, q.Value, path + "." + p.Name, diffs, pending);
                }
                foreach (var q in b.Properties())
                {
                    if (a.Property(q.Name) != null) continue;
                    if (q.Value.Type == JTokenType.Null && pending.Contains(q.Name) && Count()) continue;
                    diffs.Add(path + "." + q.Name + " added");
                }
                return;
            }
            var arr = sent as JArray;
            if (arr != null)
            {
                var brr = (JArray)again;
                if (arr.Count != brr.Count) diffs.Add(path + ": " + arr.Count + " items came back as " + brr.Count);
                for (int i = 0; i < System.Math.Min(arr.Count, brr.Count); i++) Token(arr[i], brr[i], path + "[" + i + "]", diffs, pending);
                return;
            }
            if (!JToken.DeepEquals(sent, again))
                diffs.Add(path + ": " + sent.ToString(Formatting.None) + " came back as " + again.ToString(Formatting.None));
        }
    }
}
