//! Closed sets of names a config value can take (optimizer, schedule, dataset, device, ...),
//! as enums: `match` on them is checked by the compiler, and a misspelt name in a config is
//! rejected while it is parsed, with the list of names that would have worked. Names are read
//! the way PyTorch and Keras users write them too: case, `-` and `_` do not matter
//! (`LeakyReLU`, `leaky_relu` and `leaky-relu` are one name), and a variant may list other
//! names (`Silu => "silu" | "swish"`); the config a run saves holds the canonical name.

/// `choice! { /// doc  pub enum Name("noun") { Variant => "kebab-name" | "alias", ... } }`
/// defines the enum with `ALL`, `as_str`, `Display`, `FromStr` and serde as the name string;
/// an unknown name reads `unknown <noun> "x" (expected one of: ...)`.
#[macro_export]
macro_rules! choice {
    ($(#[$meta:meta])* pub enum $name:ident($noun:literal) { $($(#[$vmeta:meta])* $variant:ident => $text:literal $(| $alias:literal)*,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Every name, comma-separated, for error messages.
            pub fn names() -> String {
                [$($text,)+].join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                let key = $crate::choice::fold(s);
                $(
                    if [$text, $($alias,)*].iter().any(|name| $crate::choice::fold(name) == key) {
                        return Ok($name::$variant);
                    }
                )+
                Err(format!(
                    "unknown {} \"{s}\" (expected one of: {})",
                    $noun,
                    $name::names()
                ))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A name as compared: lower case, without `-`, `_` and spaces, so `LeakyReLU`, `leaky_relu`
/// and `leaky-relu` are one name.
pub fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// serde for an optional choice written as `""` when unset, so config files keep the
/// `activation = ""` form ("keep the preset's own").
pub mod empty_as_none {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::str::FromStr;

    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => v.serialize(s),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr<Err = String>,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}
