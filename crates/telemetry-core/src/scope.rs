//! The library that produced a span, metric or log record.

use std::sync::Arc;

use crate::value::{KeyValue, StringValue};

/// Identifies the instrumentation library (a crate, a module) that emitted telemetry.
///
/// Cloning is cheap; scopes are compared by value.
#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentationScope {
    inner: Arc<ScopeFields>,
}

#[derive(Debug, PartialEq)]
struct ScopeFields {
    name: StringValue,
    version: Option<StringValue>,
    schema_url: Option<StringValue>,
    attributes: Vec<KeyValue>,
}

/// Builds an [`InstrumentationScope`].
#[derive(Debug)]
pub struct InstrumentationScopeBuilder {
    fields: ScopeFields,
}

impl InstrumentationScope {
    /// Starts a scope named `name` (conventionally the crate or module path).
    pub fn builder(name: impl Into<StringValue>) -> InstrumentationScopeBuilder {
        InstrumentationScopeBuilder {
            fields: ScopeFields {
                name: name.into(),
                version: None,
                schema_url: None,
                attributes: Vec::new(),
            },
        }
    }

    /// The scope's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The scope's version, if given.
    pub fn version(&self) -> Option<&str> {
        self.inner.version.as_deref()
    }

    /// The schema URL, if given.
    pub fn schema_url(&self) -> Option<&str> {
        self.inner.schema_url.as_deref()
    }

    /// The scope's attributes.
    pub fn attributes(&self) -> &[KeyValue] {
        &self.inner.attributes
    }
}

impl InstrumentationScopeBuilder {
    /// Sets the version.
    pub fn with_version(mut self, version: impl Into<StringValue>) -> Self {
        self.fields.version = Some(version.into());
        self
    }

    /// Sets the schema URL.
    pub fn with_schema_url(mut self, url: impl Into<StringValue>) -> Self {
        self.fields.schema_url = Some(url.into());
        self
    }

    /// Sets the attributes.
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.fields.attributes = attributes.into_iter().collect();
        self
    }

    /// The scope.
    pub fn build(self) -> InstrumentationScope {
        InstrumentationScope {
            inner: Arc::new(self.fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_field() {
        let scope = InstrumentationScope::builder("my-crate")
            .with_version("1.2.3")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("k", "v")])
            .build();
        assert_eq!(scope.name(), "my-crate");
        assert_eq!(scope.version(), Some("1.2.3"));
        assert_eq!(
            scope.schema_url(),
            Some("https://opentelemetry.io/schemas/1.26.0")
        );
        assert_eq!(scope.attributes(), &[KeyValue::new("k", "v")]);
        assert_eq!(scope.clone(), scope);
        let bare = InstrumentationScope::builder("x").build();
        assert_eq!((bare.version(), bare.schema_url()), (None, None));
    }
}
