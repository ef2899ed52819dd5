//! One-line text forms of attributes, for the console exporters of the signal crates: a
//! record stays one line whatever its values hold, so output can be grepped line by line.

use std::fmt::Write as _;

use crate::value::KeyValue;

/// Appends `value` with control characters (newlines above all) escaped as Rust escapes
/// them; with `escape_quotes`, `"` and `\` too, for a value written between quotes.
pub fn push_escaped(text: &mut String, value: &str, escape_quotes: bool) {
    for c in value.chars() {
        if c.is_control() || (escape_quotes && (c == '"' || c == '\\')) {
            text.extend(c.escape_default());
        } else {
            text.push(c);
        }
    }
}

/// Appends `{k=v, k2=v2}`, each value in its display form, escaped by [`push_escaped`].
pub fn push_attributes(text: &mut String, attributes: &[KeyValue]) {
    text.push('{');
    for (i, attribute) in attributes.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(text, "{}=", attribute.key);
        push_escaped(text, &attribute.value.to_string(), false);
    }
    text.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_stay_on_one_line() {
        let mut text = String::new();
        push_attributes(
            &mut text,
            &[KeyValue::new("a", "x\ny"), KeyValue::new("n", 7i64)],
        );
        assert_eq!(text, r"{a=x\ny, n=7}");
        text.clear();
        push_escaped(&mut text, "say \"hi\"\t\\", true);
        assert_eq!(text, r#"say \"hi\"\t\\"#);
        text.clear();
        push_escaped(&mut text, "say \"hi\"", false);
        assert_eq!(text, "say \"hi\"");
    }
}
