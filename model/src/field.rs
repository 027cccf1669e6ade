//! [`FieldError`]: a validation failure that names the offending field, so REST can answer
//! `422` with `{"field": "trunk.address", "message": "…"}`.

use std::borrow::Cow;

use serde::Serialize;

/// One invalid field: `field` is a dotted path from the validated object's root
/// (`"to_number"`, `"trunk.address"`, `"active_hours.windows"`), `message` says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path of the field.
    pub field: Cow<'static, str>,
    /// What is wrong with it, for a person.
    pub message: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: impl Into<Cow<'static, str>>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}
