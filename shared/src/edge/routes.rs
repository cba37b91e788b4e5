//! The service's HTTP routes: one table. The local server dispatches by it
//! (`local/src/routes.rs`); `shared/tests/routes.rs` holds every other place that names a route
//! against it: Cargo.toml's `cargo lambda watch` router, template.yaml's events (and family C's
//! authorized paths), openapi.yaml's paths and the handlers' `PATH` constants.

use crate::ops::metrics::Family;

/// API Gateway's greedy path variable: a route ending in it takes every path under its prefix.
pub const PROXY: &str = "{proxy+}";

/// Which handler answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `twofactor::handler::create`
    TwoFactorCreate,
    /// `twofactor::handler::verify`
    TwoFactorVerify,
    /// Any other path of family C: `twofactor::handler::not_found`, the family's 404.
    TwoFactorUnknown,
    /// `preregistration::handler::generate`
    PreregistrationGenerate,
    /// `preregistration::handler::validate`
    PreregistrationValidate,
    /// Any other path of family B: `preregistration::handler::not_found`, the family's 404.
    PreregistrationUnknown,
    /// `signup::handler::handle` (the path names the answer's format).
    Signup,
}

impl Endpoint {
    pub const fn family(self) -> Family {
        match self {
            Self::TwoFactorCreate | Self::TwoFactorVerify | Self::TwoFactorUnknown => Family::TwoFactor,
            Self::PreregistrationGenerate | Self::PreregistrationValidate | Self::PreregistrationUnknown => {
                Family::Preregistration
            }
            Self::Signup => Family::Signup,
        }
    }
}

/// How a route matches a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The path itself.
    Exact,
    /// A catch-all (`/prefix/{proxy+}`): every path under `/prefix/` no exact route has.
    CatchAll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// As API Gateway writes it (a catch-all ends in `{proxy+}`).
    pub path: &'static str,
    /// What the endpoint serves: the template routes every method to the function, which
    /// answers another one 405 in its family's shape (a catch-all answers any method 404).
    pub method: &'static str,
    pub function: Function,
    pub endpoint: Endpoint,
}

/// The Lambda function a route invokes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    /// Its crate and binary (`functions/<name>`).
    pub name: &'static str,
    /// Its resource in template.yaml.
    pub logical_id: &'static str,
}

impl Route {
    pub fn kind(&self) -> Kind {
        if self.path.ends_with(PROXY) { Kind::CatchAll } else { Kind::Exact }
    }

    /// `true` when this route takes `path`.
    pub fn matches(&self, path: &str) -> bool {
        match self.path.strip_suffix(PROXY) {
            Some(prefix) => path.starts_with(prefix),
            None => path == self.path,
        }
    }
}

const fn post(path: &'static str, function: Function, endpoint: Endpoint) -> Route {
    Route { path, method: "POST", function, endpoint }
}

const fn catch_all(path: &'static str, function: Function, endpoint: Endpoint) -> Route {
    Route { path, method: "ANY", function, endpoint }
}

const fn function(name: &'static str, logical_id: &'static str) -> Function {
    Function { name, logical_id }
}

const CREATE: Function = function("create-two-factor-sms-otp", "CreateTwoFactorSmsOtpFunction");
const VERIFY: Function = function("verify-two-factor-sms-otp", "VerifyTwoFactorSmsOtpFunction");
const GENERATE: Function = function("generate-cnf-code-not-user", "GenerateCnfCodeNotUserFunction");
const VALIDATE: Function = function("validate-cnf-code-not-user", "ValidateCnfCodeNotUserFunction");
const SIGNUP: Function = function("cognito-send-confirm-code-request", "CognitoSendConfirmCodeRequestFunction");

/// Every route API Gateway has. The local server's own paths (`/health`, `/_local/*`) are not
/// routes of the service.
pub const ROUTES: &[Route] = &[
    // Family C (backends only: the template's Api gives these paths its authorizer).
    post("/api/TwoFactor/CreateTwoFactorSmsOtp", CREATE, Endpoint::TwoFactorCreate),
    post("/api/TwoFactor/VerifyTwoFactorSmsOtp", VERIFY, Endpoint::TwoFactorVerify),
    catch_all("/api/TwoFactor/{proxy+}", VERIFY, Endpoint::TwoFactorUnknown),
    // Family B.
    post("/api/Auth/1/1/GenerateCnfCodeNotUser", GENERATE, Endpoint::PreregistrationGenerate),
    post("/api/Auth/1/1/ValidateCnfCodeNotUser", VALIDATE, Endpoint::PreregistrationValidate),
    catch_all("/api/Auth/1/1/{proxy+}", VALIDATE, Endpoint::PreregistrationUnknown),
    // Family A: ServiceStack's route with its format suffixes, and its predefined routes.
    post("/CognitoSendConfirmCodeRequest", SIGNUP, Endpoint::Signup),
    post("/CognitoSendConfirmCodeRequest.json", SIGNUP, Endpoint::Signup),
    post("/CognitoSendConfirmCodeRequest.xml", SIGNUP, Endpoint::Signup),
    post("/CognitoSendConfirmCodeRequest.csv", SIGNUP, Endpoint::Signup),
    post("/json/reply/CognitoSendConfirmCodeRequest", SIGNUP, Endpoint::Signup),
    post("/xml/reply/CognitoSendConfirmCodeRequest", SIGNUP, Endpoint::Signup),
    post("/csv/reply/CognitoSendConfirmCodeRequest", SIGNUP, Endpoint::Signup),
];

/// The route that takes `path`, as API Gateway picks it: an exact route before a catch-all.
pub fn find(path: &str) -> Option<&'static Route> {
    let exact = ROUTES.iter().find(|r| r.kind() == Kind::Exact && r.matches(path));
    exact.or_else(|| ROUTES.iter().find(|r| r.kind() == Kind::CatchAll && r.matches(path)))
}
