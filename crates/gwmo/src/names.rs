//! The text names of small enums (modes, kinds, protocols, ...), written once.

/// Declares a fieldless enum whose variants have fixed text names: `as_str()`, a
/// case-insensitive `parse()` returning [`crate::Error::InvalidValue`] with `$what`,
/// `Display` and `FromStr`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text name (as written in the tree and in payloads).
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value named `s` (ASCII case ignored).
            ///
            /// # Errors
            #[doc = concat!("[`crate::Error::InvalidValue`] (`what` = `", $what, "`) for any other text.")]
            pub fn parse(s: &str) -> Result<$name, crate::Error> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| crate::Error::InvalidValue {
                        what: $what,
                        found: crate::error::peer_text(s),
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = crate::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

pub(crate) use named_enum;
