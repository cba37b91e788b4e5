//! A small, safe XML reader for request bodies: the document becomes a tree of elements
//! (names without their namespace prefix), text with character and predefined entity
//! references resolved. DTDs are refused, so no entity can expand (XML bombs) and nothing
//! external is fetched; nesting is bounded.

use quick_xml::events::Event;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    /// The namespace the element's name is in, when the document declares one.
    pub namespace: Option<String>,
    pub text: String,
    /// `i:nil="true"`: DataContract's null.
    pub nil: bool,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child whose local name matches, ignoring ASCII case.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }
}

const MAX_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the request body is not valid XML: {0}")]
pub struct XmlError(pub String);

fn local_name(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name);
    name.rsplit(':').next().unwrap_or_default().to_string()
}

/// The element with its namespace (from its own or an ancestor's `xmlns` declarations) and
/// `i:nil`.
fn element(start: &quick_xml::events::BytesStart<'_>, scopes: &mut Vec<Vec<(String, String)>>) -> Element {
    let mut declared = Vec::new();
    let mut nil = false;
    for attribute in start.attributes().flatten() {
        let key = String::from_utf8_lossy(attribute.key.as_ref()).to_string();
        // Entity and character references resolved (`xmlns="a&amp;b"` is the namespace `a&b`);
        // one that cannot be resolved leaves the text as written.
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| String::from_utf8_lossy(&attribute.value).to_string());
        if key == "xmlns" {
            declared.push((String::new(), value));
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            declared.push((prefix.to_string(), value));
        } else if key.rsplit(':').next() == Some("nil") && value == "true" {
            nil = true;
        }
    }
    scopes.push(declared);
    let qualified = String::from_utf8_lossy(start.name().as_ref()).to_string();
    let prefix = qualified.split_once(':').map(|(p, _)| p.to_string()).unwrap_or_default();
    let namespace = scopes.iter().rev().flat_map(|s| s.iter()).find(|(p, _)| *p == prefix).map(|(_, ns)| ns.clone());
    Element { name: local_name(qualified.as_bytes()), namespace, nil, ..Default::default() }
}

pub fn parse(body: &str) -> Result<Element, XmlError> {
    let err = |why: String| XmlError(why);
    let mut reader = quick_xml::Reader::from_str(body);
    let mut stack: Vec<Element> = Vec::new();
    let mut scopes: Vec<Vec<(String, String)>> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader.read_event().map_err(|e| err(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(err("DTDs are not accepted".into())),
            Event::Start(start) => {
                if root.is_some() {
                    return Err(err("more than one root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(err("elements are nested too deeply".into()));
                }
                stack.push(element(&start, &mut scopes));
            }
            Event::Empty(empty) => {
                let element = element(&empty, &mut scopes);
                scopes.pop();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => return Err(err("more than one root element".into())),
                }
            }
            Event::End(_) => {
                let mut element = stack.pop().ok_or_else(|| err("unexpected closing tag".into()))?;
                scopes.pop();
                element.text = element.text.trim().to_string();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => root = Some(element),
                }
            }
            Event::Text(text) => {
                let decoded = text.decode().map_err(|e| err(e.to_string()))?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&decoded),
                    None if decoded.trim().is_empty() => {}
                    None => return Err(err("text outside the root element".into())),
                }
            }
            Event::CData(data) => {
                let decoded = data.decode().map_err(|e| err(e.to_string()))?;
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&decoded);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| err(e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = reference.decode().map_err(|e| err(e.to_string()))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| err(format!("unknown entity &{name};")))?
                            .to_string()
                    }
                };
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(err("unclosed element".into()));
    }
    root.ok_or_else(|| err("no root element".into()))
}

/// A DataContract document as the JSON its type would serialise to: elements with children
/// become objects (a dictionary's `KeyValueOfstringstring` entries become its keys), `i:nil`
/// becomes null, text stays text (the request readers convert numbers and booleans).
pub fn to_json(element: &Element) -> serde_json::Value {
    use serde_json::{Map, Value};
    if element.nil {
        return Value::Null;
    }
    if element.children.is_empty() {
        return Value::String(element.text.clone());
    }
    let mut map = Map::new();
    for child in &element.children {
        if child.name == "KeyValueOfstringstring" {
            if let Some(key) = child.child("Key") {
                let value = child.child("Value").map(to_json).unwrap_or(Value::Null);
                map.insert(key.text.clone(), value);
            }
        } else {
            map.insert(child.name.clone(), to_json(child));
        }
    }
    Value::Object(map)
}

/// Writes a DataContract document: `<Root xmlns:i=... xmlns=NS>` and its members.
pub struct Writer(String);

impl Writer {
    pub fn new(root: &str, namespace: &str) -> Self {
        Self(format!("<{root} xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"{}\">", escape(namespace)))
    }

    /// A member: its text, or `i:nil` when absent.
    pub fn field(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.0.push_str(&format!("<{name}>{}</{name}>", escape(v))),
            None => self.0.push_str(&format!("<{name} i:nil=\"true\"/>")),
        }
        self
    }

    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.0.push_str(xml);
        self
    }

    pub fn finish(mut self, root: &str) -> String {
        self.0.push_str(&format!("</{root}>"));
        self.0
    }
}

const ARRAYS_NS: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
const SERIALIZATION_NS: &str = "http://schemas.microsoft.com/2003/10/Serialization/";
const SCHEMA_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// The namespace DataContractSerializer gives a type of CLR namespace `clr_namespace` that
/// names none of its own.
pub fn contract_namespace(clr_namespace: &str) -> String {
    format!("http://schemas.datacontract.org/2004/07/{clr_namespace}")
}

/// The data contract name .NET gives a closed generic type such as `GenericResult<T>`:
/// `GenericResultOf` + each argument's contract name, then, unless every argument lives in
/// one of .NET's built-in namespaces, a digest of the arguments' namespaces (so two
/// `GenericResult<X>` with X from different namespaces get different names).
///
/// From referencesource `System.Runtime.Serialization/DataContract.cs`,
/// `GetDefaultStableLocalName` and `GetNamespacesDigest` (Mono 6.8 uses the same source,
/// and `clients/dotnet` checks the result against Mono's serializer):
/// - the digested string is `" " + <number of generic parameters>` for each nesting level
///   (one here), followed by `" " + <namespace>` for each argument, e.g.
///   `" 1 http://schemas.datacontract.org/2004/07/SFE.Auth.Core.Requests"`;
/// - digest = the first 6 bytes of its MD5 (`HashHelper.ComputeHash`, an MD5 written out in
///   that file), in base64 (8 characters), with `/` written `_S`, `+` written `_P` and `=`
///   dropped.
pub fn generic_contract_name(generic: &str, arguments: &[(&str, &str)]) -> String {
    let mut name = format!("{generic}Of");
    let mut namespaces = format!(" {}", arguments.len());
    for (argument, namespace) in arguments {
        name.push_str(argument);
        namespaces.push(' ');
        namespaces.push_str(namespace);
    }
    let built_in = arguments.iter().all(|(_, ns)| *ns == SERIALIZATION_NS || *ns == SCHEMA_NS);
    if !built_in {
        name.push_str(&namespaces_digest(&namespaces));
    }
    name
}

fn namespaces_digest(namespaces: &str) -> String {
    use base64::Engine;
    use md5::Digest;
    let hash = md5::Md5::digest(namespaces.as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(&hash[..6]);
    encoded.replace('/', "_S").replace('+', "_P").replace('=', "")
}

/// Writes the members of a JSON object as DataContract does: in ordinal order, nulls as
/// `i:nil`, arrays of strings as `string` items of the Arrays namespace, nested objects as
/// nested members. `prefix` is the prefix bound to the members' namespace ("" for the
/// default namespace) and `depth` the members' depth in the document (the root is 1):
/// .NET's writer names the prefixes it declares `d<depth>p<n>`.
pub fn json_members(value: &serde_json::Value, prefix: &str, depth: usize) -> String {
    use serde_json::Value;
    let mut out = String::new();
    let Value::Object(map) = value else { return out };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    let qualify = |name: &str| if prefix.is_empty() { name.to_string() } else { format!("{prefix}:{name}") };
    for key in keys {
        let name = qualify(&escape(key));
        match &map[key] {
            Value::Null => out.push_str(&format!("<{name} i:nil=\"true\"/>")),
            Value::Array(items) => {
                let items_prefix = format!("d{depth}p1");
                out.push_str(&format!("<{name} xmlns:{items_prefix}=\"{ARRAYS_NS}\">"));
                for item in items {
                    let text = item.as_str().map(str::to_string).unwrap_or_else(|| item.to_string());
                    out.push_str(&format!("<{items_prefix}:string>{}</{items_prefix}:string>", escape(&text)));
                }
                out.push_str(&format!("</{name}>"));
            }
            nested @ Value::Object(_) => {
                out.push_str(&format!("<{name}>{}</{name}>", json_members(nested, prefix, depth + 1)))
            }
            Value::String(text) => out.push_str(&format!("<{name}>{}</{name}>", escape(text))),
            other => out.push_str(&format!("<{name}>{other}</{name}>")),
        }
    }
    out
}

/// Escapes text for element content or attribute values.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_document_is_well_formed_should_build_the_tree() {
        let root = parse(
            r#"<?xml version="1.0"?><!-- c --><a:Root xmlns:a="urn:x"><B>one &amp; two &#65;</B><C/><D><E> x </E></D></a:Root>"#,
        )
        .unwrap();
        assert_eq!(root.name, "Root");
        assert_eq!(root.namespace.as_deref(), Some("urn:x"));
        assert_eq!(root.child("b").unwrap().text, "one & two A");
        assert_eq!(root.child("C").unwrap().text, "");
        assert_eq!(root.child("D").unwrap().child("E").unwrap().text, "x");
        let root = parse(r#"<R xmlns="urn:a&amp;b&#39;c"><S xmlns:p="urn:&lt;"><p:T/></S></R>"#).unwrap();
        assert_eq!(root.namespace.as_deref(), Some("urn:a&b'c"));
        assert_eq!(root.children[0].children[0].namespace.as_deref(), Some("urn:<"));
    }

    #[test]
    fn when_data_contract_is_read_as_json_should_map_dictionaries_nils_and_nesting() {
        let root = parse(
            r#"<R xmlns="urn:r" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><A>1</A><B i:nil="true"/>
               <D xmlns:d2p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><d2p1:KeyValueOfstringstring>
               <d2p1:Key>k</d2p1:Key><d2p1:Value>v</d2p1:Value></d2p1:KeyValueOfstringstring></D>
               <N xmlns:x="urn:n"><x:C>c</x:C></N></R>"#,
        )
        .unwrap();
        assert_eq!(root.namespace.as_deref(), Some("urn:r"));
        assert_eq!(to_json(&root), serde_json::json!({"A": "1", "B": null, "D": {"k": "v"}, "N": {"C": "c"}}));
        let mut w = Writer::new("Out", "urn:o");
        w.field("A", Some("<&>")).field("B", None);
        assert_eq!(
            w.finish("Out"),
            "<Out xmlns:i=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns=\"urn:o\"><A>&lt;&amp;&gt;</A><B i:nil=\"true\"/></Out>"
        );
    }

    #[test]
    fn when_generic_type_is_named_should_match_data_contract_serializer() {
        let requests = contract_namespace("SFE.Auth.Core.Requests");
        // As Mono's DataContractSerializer names GenericResult<GenerateCnfCodeNotUserResponse>.
        assert_eq!(
            generic_contract_name("GenericResult", &[("GenerateCnfCodeNotUserResponse", &requests)]),
            "GenericResultOfGenerateCnfCodeNotUserResponseNXX2sC_S0"
        );
        // The digest depends on the namespaces only, not on the argument's name.
        assert_eq!(
            generic_contract_name("GenericResult", &[("ValidateCnfCodeNotUserResponse", &requests)]),
            "GenericResultOfValidateCnfCodeNotUserResponseNXX2sC_S0"
        );
        // Arguments from built-in namespaces (string is in XML Schema's) get no digest, as
        // Mono names KeyValuePair<string, string>.
        assert_eq!(
            generic_contract_name("KeyValuePair", &[("string", SCHEMA_NS), ("string", SCHEMA_NS)]),
            "KeyValuePairOfstringstring"
        );
        assert_eq!(namespaces_digest(" 1 urn:x"), namespaces_digest(" 1 urn:x"));
        assert_ne!(namespaces_digest(" 1 urn:x"), namespaces_digest(" 1 urn:y"));
    }

    #[test]
    fn when_members_live_in_another_namespace_should_prefix_them_and_their_arrays() {
        let members = json_members(&serde_json::json!({"b": ["x"], "a": null, "c": true}), "d2p1", 3);
        assert_eq!(
            members,
            format!(
                "<d2p1:a i:nil=\"true\"/><d2p1:b xmlns:d3p1=\"{ARRAYS_NS}\"><d3p1:string>x</d3p1:string></d2p1:b><d2p1:c>true</d2p1:c>"
            )
        );
    }

    #[test]
    fn when_document_is_hostile_or_broken_should_refuse() {
        for bad in [
            r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><R>&a;</R>"#,
            "<R>&unknown;</R>",
            "<R><S></R>",
            "<R>",
            "",
            "<R/><S/>",
            "text",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(parse(&deep).unwrap_err().0, "elements are nested too deeply");
    }
}
