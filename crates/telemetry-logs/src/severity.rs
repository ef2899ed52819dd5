//! Severity numbers as the OpenTelemetry logs data model defines them.

use std::fmt;

/// How severe a log record is: OpenTelemetry's `SeverityNumber`, 1 to 24, or 0 for
/// "unspecified".
///
/// The numbers come in six ranges of four, each range one familiar level: TRACE 1–4,
/// DEBUG 5–8, INFO 9–12, WARN 13–16, ERROR 17–20, FATAL 21–24. Within a range a larger
/// number is more severe (`INFO2` is a little more important than `INFO`). Severities
/// compare by number, so `record.severity >= Severity::WARN` selects warnings and worse.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Severity(u8);

macro_rules! severities {
    ($($name:ident = $n:literal, $text:literal;)*) => {
        impl Severity {
            $(
                #[doc = concat!("`", $text, "`: severity number ", stringify!($n), ".")]
                pub const $name: Severity = Severity($n);
            )*

            /// The short name the data model gives this number (`"INFO"`, `"WARN3"`, ...),
            /// or `"UNSPECIFIED"` for 0.
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($n => $text,)*
                    _ => "UNSPECIFIED",
                }
            }
        }
    };
}

severities! {
    TRACE = 1, "TRACE"; TRACE2 = 2, "TRACE2"; TRACE3 = 3, "TRACE3"; TRACE4 = 4, "TRACE4";
    DEBUG = 5, "DEBUG"; DEBUG2 = 6, "DEBUG2"; DEBUG3 = 7, "DEBUG3"; DEBUG4 = 8, "DEBUG4";
    INFO = 9, "INFO"; INFO2 = 10, "INFO2"; INFO3 = 11, "INFO3"; INFO4 = 12, "INFO4";
    WARN = 13, "WARN"; WARN2 = 14, "WARN2"; WARN3 = 15, "WARN3"; WARN4 = 16, "WARN4";
    ERROR = 17, "ERROR"; ERROR2 = 18, "ERROR2"; ERROR3 = 19, "ERROR3"; ERROR4 = 20, "ERROR4";
    FATAL = 21, "FATAL"; FATAL2 = 22, "FATAL2"; FATAL3 = 23, "FATAL3"; FATAL4 = 24, "FATAL4";
}

impl Severity {
    /// Severity number 0: the source did not say.
    pub const UNSPECIFIED: Severity = Severity(0);

    /// The severity with number `number`, or `None` outside 0–24 (as a decoder of untrusted
    /// input needs).
    pub const fn from_number(number: u8) -> Option<Severity> {
        if number <= 24 {
            Some(Severity(number))
        } else {
            None
        }
    }

    /// The severity number (OTLP's `severity_number`).
    #[inline]
    pub const fn number(self) -> u8 {
        self.0
    }

    /// True for 0.
    #[inline]
    pub const fn is_unspecified(self) -> bool {
        self.0 == 0
    }

    /// The first number of this severity's range (`WARN3` gives `WARN`); 0 stays 0.
    pub const fn base(self) -> Severity {
        if self.0 == 0 {
            self
        } else {
            Severity((self.0 - 1) / 4 * 4 + 1)
        }
    }
}

impl fmt::Debug for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Severity({} {})", self.0, self.name())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_data_model() {
        let bases = [
            (1, "TRACE"),
            (5, "DEBUG"),
            (9, "INFO"),
            (13, "WARN"),
            (17, "ERROR"),
            (21, "FATAL"),
        ];
        for (first, name) in bases {
            for offset in 0..4u8 {
                let severity = Severity::from_number(first + offset).expect("in range");
                assert_eq!(severity.base().number(), first);
                assert_eq!(severity.base().name(), name);
                let expected = if offset == 0 {
                    name.to_owned()
                } else {
                    format!("{name}{}", offset + 1)
                };
                assert_eq!(severity.name(), expected);
            }
        }
        assert_eq!(Severity::from_number(25), None);
        assert_eq!(Severity::from_number(0), Some(Severity::UNSPECIFIED));
        assert_eq!(Severity::UNSPECIFIED.base(), Severity::UNSPECIFIED);
        assert_eq!(Severity::default().name(), "UNSPECIFIED");
        assert!(Severity::WARN < Severity::ERROR && Severity::INFO4 < Severity::WARN);
        assert_eq!(Severity::ERROR3.to_string(), "ERROR3");
        assert_eq!(format!("{:?}", Severity::FATAL), "Severity(21 FATAL)");
    }
}
