//! A small, safe XML reader for request bodies: the document becomes a tree of elements
//! (names without their namespace prefix), text with character and predefined entity
//! references resolved. DTDs are refused, so no entity can expand (XML bombs) and nothing
//! external is fetched; nesting is bounded.

use quick_xml::events::Event;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub text: String,
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

pub fn parse(body: &str) -> Result<Element, XmlError> {
    let err = |why: String| XmlError(why);
    let mut reader = quick_xml::Reader::from_str(body);
    let mut stack: Vec<Element> = Vec::new();
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
                stack.push(Element { name: local_name(start.name().as_ref()), ..Default::default() });
            }
            Event::Empty(empty) => {
                let element = Element { name: local_name(empty.name().as_ref()), ..Default::default() };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None if root.is_none() => root = Some(element),
                    None => return Err(err("more than one root element".into())),
                }
            }
            Event::End(_) => {
                let mut element = stack.pop().ok_or_else(|| err("unexpected closing tag".into()))?;
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
        assert_eq!(root.child("b").unwrap().text, "one & two A");
        assert_eq!(root.child("C").unwrap().text, "");
        assert_eq!(root.child("D").unwrap().child("E").unwrap().text, "x");
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
