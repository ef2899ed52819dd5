//! The entity that produces telemetry: `service.name` and friends.

use std::fmt;
use std::sync::Arc;

use crate::diagnostic;
use crate::env::{self, EnvSource, ProcessEnv};
use crate::value::{Key, KeyValue, StringValue, Value};

/// `telemetry.sdk.name`: the spec reserves `opentelemetry` for the official SDKs.
pub const SDK_NAME: &str = "telemetry";
/// `telemetry.sdk.version`: this workspace's version.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Attributes that describe the process producing telemetry, sent once per export batch.
///
/// Keys are unique; setting a key again replaces its value in place. Cloning is cheap.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    attributes: Arc<[KeyValue]>,
    schema_url: Option<StringValue>,
}

/// Builds a [`Resource`] attribute by attribute.
#[derive(Debug, Default)]
pub struct ResourceBuilder {
    attributes: Vec<KeyValue>,
    schema_url: Option<StringValue>,
}

/// Why two resources could not be merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError {
    old: String,
    updating: String,
}

/// Why `OTEL_RESOURCE_ATTRIBUTES` was rejected (the whole variable is then ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceAttributesError {
    kind: ResourceAttributesErrorKind,
    member: usize,
}

/// The kinds of [`ResourceAttributesError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResourceAttributesErrorKind {
    /// A member has no `=`.
    MissingEquals,
    /// A member's key is empty.
    EmptyKey,
    /// A `%` is not followed by two hex digits.
    BadPercentEncoding,
    /// A key or value does not decode to UTF-8.
    InvalidUtf8,
}

impl Resource {
    /// A resource with no attributes.
    pub fn empty() -> Self {
        Resource::default()
    }

    /// Starts a resource from nothing.
    pub fn builder() -> ResourceBuilder {
        ResourceBuilder::default()
    }

    /// The SDK's default resource: `telemetry.sdk.*` and `service.name`
    /// (`unknown_service:<executable>`), overridden by `OTEL_RESOURCE_ATTRIBUTES` and then
    /// `OTEL_SERVICE_NAME` from the process environment.
    pub fn detect() -> Self {
        Self::detect_from(&ProcessEnv)
    }

    /// The detected resource ([`Resource::detect`]) updated by `user`, whose attributes win.
    ///
    /// What a provider given a resource uses, as the resource SDK spec asks: the user's
    /// resource is merged over the SDK's attributes and `OTEL_RESOURCE_ATTRIBUTES`, so
    /// `service.name` and `telemetry.sdk.*` are kept unless the user sets those keys. On a
    /// schema URL conflict (the detected resource has none today) the user's resource is used
    /// alone, with a warning.
    pub fn detect_merged(user: &Resource) -> Resource {
        Resource::detect().merge(user).unwrap_or_else(|error| {
            diagnostic::report(
                "resource",
                format_args!("{error}; using the given resource alone"),
            );
            user.clone()
        })
    }

    /// [`Resource::detect`] reading variables from `env`.
    pub fn detect_from(env: &(impl EnvSource + ?Sized)) -> Self {
        let mut builder = Resource::builder()
            .with_attribute(KeyValue::new("service.name", default_service_name()))
            .with_attribute(KeyValue::new("telemetry.sdk.language", "rust"))
            .with_attribute(KeyValue::new("telemetry.sdk.name", SDK_NAME))
            .with_attribute(KeyValue::new("telemetry.sdk.version", SDK_VERSION));
        if let Some(raw) = env::read_string(env, "OTEL_RESOURCE_ATTRIBUTES") {
            match parse_resource_attributes(&raw) {
                Ok(attributes) => builder = builder.with_attributes(attributes),
                Err(error) => diagnostic::report(
                    "resource",
                    format_args!("OTEL_RESOURCE_ATTRIBUTES ignored: {error}"),
                ),
            }
        }
        if let Some(service) = env::read_string(env, "OTEL_SERVICE_NAME") {
            builder = builder.with_service_name(service);
        }
        builder.build()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }

    /// `service.name`, if present and a string.
    pub fn service_name(&self) -> Option<&str> {
        self.get("service.name").and_then(Value::as_str)
    }

    /// The attributes, in insertion order.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }

    /// The schema URL, if any.
    pub fn schema_url(&self) -> Option<&str> {
        self.schema_url.as_deref()
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    /// True when there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// Merges `updating` into this resource: the union of both, `updating`'s values winning.
    ///
    /// Fails when both have different non-empty schema URLs, as the resource SDK spec says.
    pub fn merge(&self, updating: &Resource) -> Result<Resource, MergeError> {
        let schema_url = match (&self.schema_url, &updating.schema_url) {
            (Some(old), Some(new)) if old != new => {
                return Err(MergeError {
                    old: old.to_string(),
                    updating: new.to_string(),
                });
            }
            (old, new) => new.clone().or_else(|| old.clone()),
        };
        let builder = ResourceBuilder {
            attributes: self.attributes.to_vec(),
            schema_url,
        };
        Ok(builder
            .with_attributes(updating.attributes.iter().cloned())
            .build())
    }
}

impl ResourceBuilder {
    /// Sets one attribute, replacing an earlier value of the same key.
    pub fn with_attribute(mut self, attribute: KeyValue) -> Self {
        match self
            .attributes
            .iter_mut()
            .find(|kv| kv.key == attribute.key)
        {
            Some(existing) => existing.value = attribute.value,
            None => self.attributes.push(attribute),
        }
        self
    }

    /// Sets several attributes in order.
    pub fn with_attributes(self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        attributes
            .into_iter()
            .fold(self, ResourceBuilder::with_attribute)
    }

    /// Sets `service.name`.
    pub fn with_service_name(self, name: impl Into<StringValue>) -> Self {
        self.with_attribute(KeyValue::new("service.name", Value::String(name.into())))
    }

    /// Sets the schema URL.
    pub fn with_schema_url(mut self, url: impl Into<StringValue>) -> Self {
        self.schema_url = Some(url.into());
        self
    }

    /// The resource.
    pub fn build(self) -> Resource {
        Resource {
            attributes: self.attributes.into(),
            schema_url: self.schema_url,
        }
    }
}

impl ResourceAttributesError {
    /// What was wrong.
    pub fn kind(&self) -> ResourceAttributesErrorKind {
        self.kind
    }

    /// The zero-based position of the offending comma-separated member.
    pub fn member(&self) -> usize {
        self.member
    }
}

impl fmt::Display for ResourceAttributesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ResourceAttributesErrorKind::MissingEquals => "has no '='",
            ResourceAttributesErrorKind::EmptyKey => "has an empty key",
            ResourceAttributesErrorKind::BadPercentEncoding => {
                "has a '%' not followed by two hex digits"
            }
            ResourceAttributesErrorKind::InvalidUtf8 => "does not decode to UTF-8",
        };
        write!(f, "member {} {what}", self.member)
    }
}

impl std::error::Error for ResourceAttributesError {}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot merge resources with schema URLs {:?} and {:?}",
            self.old, self.updating
        )
    }
}

impl std::error::Error for MergeError {}

/// Parses the `OTEL_RESOURCE_ATTRIBUTES` format: `k1=v1,k2=v2`, keys and values
/// percent-decoded and trimmed, every value a string. Empty members are skipped. Any bad
/// member fails the whole list, because the spec discards the entire variable then.
pub fn parse_resource_attributes(input: &str) -> Result<Vec<KeyValue>, ResourceAttributesError> {
    let mut attributes = Vec::new();
    for (member, raw) in input.split(',').enumerate() {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let fail = |kind| ResourceAttributesError { kind, member };
        let (key, value) = raw
            .split_once('=')
            .ok_or(fail(ResourceAttributesErrorKind::MissingEquals))?;
        let key = percent_decode(key.trim()).map_err(fail)?;
        if key.is_empty() {
            return Err(fail(ResourceAttributesErrorKind::EmptyKey));
        }
        let value = percent_decode(value.trim()).map_err(fail)?;
        attributes.push(KeyValue::new(Key::from(key), value));
    }
    Ok(attributes)
}

fn percent_decode(input: &str) -> Result<String, ResourceAttributesErrorKind> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex_digit = |b: u8| (b as char).to_digit(16);
            let hi = bytes.get(i + 1).copied().and_then(hex_digit);
            let lo = bytes.get(i + 2).copied().and_then(hex_digit);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(ResourceAttributesErrorKind::BadPercentEncoding),
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ResourceAttributesErrorKind::InvalidUtf8)
}

/// `unknown_service:<executable name>`, or `unknown_service` when the name is unavailable.
fn default_service_name() -> String {
    let executable = std::env::current_exe().ok().and_then(|path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
    });
    match executable {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_name_the_sdk_and_the_executable() {
        let resource = Resource::detect_from(&[] as &[(&str, &str)]);
        let service = resource.service_name().unwrap_or_default();
        assert!(service.starts_with("unknown_service:"), "{service}");
        assert_eq!(
            resource.get("telemetry.sdk.name"),
            Some(&Value::from("telemetry"))
        );
        assert_eq!(
            resource.get("telemetry.sdk.language"),
            Some(&Value::from("rust"))
        );
        assert_eq!(
            resource.get("telemetry.sdk.version"),
            Some(&Value::from(SDK_VERSION))
        );
    }

    #[test]
    fn service_name_variable_wins_over_resource_attributes() {
        let env = [
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attrs,deployment.environment=prod",
            ),
            ("OTEL_SERVICE_NAME", "checkout"),
        ];
        let resource = Resource::detect_from(&env);
        assert_eq!(resource.service_name(), Some("checkout"));
        assert_eq!(
            resource.get("deployment.environment"),
            Some(&Value::from("prod"))
        );
    }

    #[test]
    fn resource_attributes_override_defaults_and_are_percent_decoded() {
        let env = [(
            "OTEL_RESOURCE_ATTRIBUTES",
            " service.name = a%2Cb%3Dc , k%20ey=%C3%A9 ,",
        )];
        let resource = Resource::detect_from(&env);
        assert_eq!(resource.service_name(), Some("a,b=c"));
        assert_eq!(resource.get("k ey"), Some(&Value::from("é")));
    }

    #[test]
    fn one_bad_member_discards_the_whole_variable() {
        let cases = [
            ("a=1,b", ResourceAttributesErrorKind::MissingEquals, 1),
            ("=1", ResourceAttributesErrorKind::EmptyKey, 0),
            (
                "a=1,b=%zz",
                ResourceAttributesErrorKind::BadPercentEncoding,
                1,
            ),
            ("a=%4", ResourceAttributesErrorKind::BadPercentEncoding, 0),
            ("a=%ff", ResourceAttributesErrorKind::InvalidUtf8, 0),
        ];
        for (input, kind, member) in cases {
            let error = parse_resource_attributes(input).expect_err(input);
            assert_eq!((error.kind(), error.member()), (kind, member), "{input}");
            assert!(!error.to_string().is_empty());
        }
        let env = [("OTEL_RESOURCE_ATTRIBUTES", "good=1,bad")];
        let resource = Resource::detect_from(&env);
        assert_eq!(resource.get("good"), None);
        assert!(
            resource
                .service_name()
                .is_some_and(|s| s.starts_with("unknown_service"))
        );
    }

    #[test]
    fn merge_prefers_the_updating_resource() -> Result<(), MergeError> {
        let old = Resource::builder()
            .with_attribute(KeyValue::new("a", 1i64))
            .with_attribute(KeyValue::new("b", 2i64))
            .with_schema_url("https://opentelemetry.io/schemas/1.0.0")
            .build();
        let new = Resource::builder()
            .with_attribute(KeyValue::new("b", "two"))
            .with_attribute(KeyValue::new("c", true))
            .build();
        let merged = old.merge(&new)?;
        assert_eq!(
            merged.attributes(),
            &[
                KeyValue::new("a", 1i64),
                KeyValue::new("b", "two"),
                KeyValue::new("c", true)
            ]
        );
        assert_eq!(
            merged.schema_url(),
            Some("https://opentelemetry.io/schemas/1.0.0")
        );
        assert_eq!(merged.len(), 3);

        let other = Resource::builder()
            .with_schema_url("https://example.com/2")
            .build();
        assert!(old.merge(&other).is_err());
        assert!(Resource::empty().is_empty());
        Ok(())
    }
}
