//! Every place that names a route, held against the one table, `shared::edge::routes::ROUTES` (the
//! local server dispatches by it): Cargo.toml's `cargo lambda watch` router, template.yaml's
//! events and family C's authorized paths, openapi.yaml's paths, the handlers' `PATH`
//! constants and the functions' wiring. The files are read by `scripts/ci/routes_of.py`
//! (PyYAML reads the template's CloudFormation tags; no TOML or YAML crate is in Cargo.lock).
//! No AWS, no moto: a small test binary of its own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use shared::edge::Endpoint as _;
use shared::edge::routes::{self, Endpoint, Kind, ROUTES, Route};
use shared::ops::metrics::Family;
use shared::preregistration::handler::{Generate, Validate};
use shared::signup::handler::SendOrConfirm;
use shared::twofactor::handler::{Create, Verify};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("shared sits in the workspace").to_path_buf()
}

/// What `scripts/ci/routes_of.py` reads of Cargo.toml, template.yaml and openapi.yaml.
fn sources() -> Value {
    let root = root();
    let python = root.join(".venv/bin/python");
    let python = if python.exists() { python } else { "python3".into() };
    let out = std::process::Command::new(python)
        .arg(root.join("scripts/ci/routes_of.py"))
        .arg(&root)
        .output()
        .expect("run scripts/ci/routes_of.py (make test installs .venv)");
    assert!(out.status.success(), "routes_of.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON routes")
}

fn field(entry: &Value, name: &str) -> String {
    entry[name].as_str().unwrap_or_else(|| panic!("{name} of {entry}")).to_string()
}

fn exact() -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(|r| r.kind() == Kind::Exact)
}

/// Sets compared with what each side has and the other lacks in the message.
fn assert_same(what: &str, file: BTreeSet<Vec<String>>, table: BTreeSet<Vec<String>>) {
    let missing: Vec<_> = table.difference(&file).collect();
    let extra: Vec<_> = file.difference(&table).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what} differs from shared::edge::routes::ROUTES:\n  in the table only: {missing:?}\n  in the file only:  {extra:?}"
    );
}

#[test]
fn the_table_is_consistent() {
    let paths: BTreeSet<_> = ROUTES.iter().map(|r| r.path).collect();
    assert_eq!(paths.len(), ROUTES.len(), "a path twice in the table");
    for route in ROUTES {
        assert!(route.path.starts_with('/'), "{route:?}");
        assert!(!route.path.starts_with("/_local") && route.path != "/health", "a local-only path: {route:?}");
        let taken = match route.kind() {
            Kind::Exact => route.path.to_string(),
            Kind::CatchAll => route.path.replace(routes::PROXY, "AnyOther/Path"),
        };
        assert_eq!(routes::find(&taken), Some(route), "{taken} finds its route");
        let manifest = root().join("functions").join(route.function.name).join("Cargo.toml");
        assert!(manifest.exists(), "{route:?}: no {}", manifest.display());
    }
    assert_eq!(routes::find("/api/TwoFactor"), None);
    assert_eq!(routes::find("/NoSuchRoute"), None);
}

/// `cargo lambda watch` routes what the functions serve (its router names no catch-all).
#[test]
fn cargo_toml_watch_router() {
    let file = sources()["router"]
        .as_array()
        .expect("router")
        .iter()
        .map(|e| vec![field(e, "path"), field(e, "method"), field(e, "function")])
        .collect();
    let table = exact().map(|r| vec![r.path.into(), r.method.into(), r.function.name.into()]).collect();
    assert_same("Cargo.toml's [workspace.metadata.lambda.watch.router]", file, table);
}

/// Every route is an event of its function, `ANY` method: the function answers a method it
/// does not serve (405) or an unknown path (404) in its family's shape, not API Gateway.
#[test]
fn template_events() {
    let sources = sources();
    let events = sources["template"].as_array().expect("template");
    for event in events {
        assert_eq!(field(event, "method"), "ANY", "template.yaml: {event}");
    }
    let file = events.iter().map(|e| vec![field(e, "path"), field(e, "function"), field(e, "binary")]).collect();
    let table =
        ROUTES.iter().map(|r| vec![r.path.into(), r.function.logical_id.into(), r.function.name.into()]).collect();
    assert_same("template.yaml's HttpApi events", file, table);

    // Family C is for backends only: each of its routes, and none other, carries the authorizer.
    let file = sources["authorized"]
        .as_array()
        .expect("authorized")
        .iter()
        .map(|p| vec![p.as_str().expect("a path").into()])
        .collect();
    let table =
        ROUTES.iter().filter(|r| r.endpoint.family() == Family::TwoFactor).map(|r| vec![r.path.into()]).collect();
    assert_same("template.yaml's Api DefinitionBody paths (family C's authorizer)", file, table);
}

/// The document describes the routes that serve (a catch-all only answers 404).
#[test]
fn openapi_paths() {
    let file = sources()["openapi"]
        .as_array()
        .expect("openapi")
        .iter()
        .map(|e| vec![field(e, "path"), field(e, "method")])
        .collect();
    let table = exact().map(|r| vec![r.path.into(), r.method.to_ascii_lowercase()]).collect();
    assert_same("openapi.yaml's paths", file, table);
}

/// The last segment of the routes of `endpoint`, which its handler checks the request's path
/// against (API Gateway may prefix a stage).
fn last_segment(endpoint: Endpoint) -> Option<&'static str> {
    let segments: BTreeSet<_> =
        exact().filter(|r| r.endpoint == endpoint).map(|r| &r.path[r.path.rfind('/').expect("a /")..]).collect();
    assert_eq!(segments.len(), 1, "{endpoint:?}: one path in the table");
    segments.into_iter().next()
}

#[test]
fn handler_constants() {
    assert_eq!(Create::PATH, last_segment(Endpoint::TwoFactorCreate), "Create::PATH");
    assert_eq!(Verify::PATH, last_segment(Endpoint::TwoFactorVerify), "Verify::PATH");
    assert_eq!(Generate::PATH, last_segment(Endpoint::PreregistrationGenerate), "Generate::PATH");
    assert_eq!(Validate::PATH, last_segment(Endpoint::PreregistrationValidate), "Validate::PATH");
    // Family A reads its own path (the format suffixes).
    assert_eq!(SendOrConfirm::PATH, None, "SendOrConfirm::PATH");
    assert_eq!(Create::FAMILY, Endpoint::TwoFactorCreate.family());
    assert_eq!(Verify::FAMILY, Endpoint::TwoFactorVerify.family());
    assert_eq!(Generate::FAMILY, Endpoint::PreregistrationGenerate.family());
    assert_eq!(Validate::FAMILY, Endpoint::PreregistrationValidate.family());
    assert_eq!(SendOrConfirm::FAMILY, Endpoint::Signup.family());
}

/// Each function calls the handler its routes need: a function with a catch-all route calls
/// its family's `handler::route` (its endpoint, or the family's 404).
#[test]
fn functions_call_their_handler() {
    for route in ROUTES {
        let function = route.function.name;
        let serves_catch_all = ROUTES.iter().any(|r| r.function == route.function && r.kind() == Kind::CatchAll);
        let call = match route.endpoint {
            _ if serves_catch_all => "handler::route(",
            Endpoint::TwoFactorCreate => "handler::create(",
            Endpoint::PreregistrationGenerate => "handler::generate(",
            Endpoint::Signup => "handler::handle(",
            other => panic!("{other:?}: which handler does {function} call?"),
        };
        let main = root().join("functions").join(function).join("src/main.rs");
        let source = std::fs::read_to_string(&main).expect("the function's main.rs");
        assert!(source.contains(call), "{}: calls {call}", main.display());
    }
}
