//! The members of a JSON object that an oracle cares about, in order and with duplicates kept
//! (`serde_json::Value` keeps only the last), so it can tell what a derived `Deserialize`
//! sees: that refuses duplicate fields. Other members are skipped the way a derived
//! `Deserialize` skips unknown fields (`IgnoredAny`, which, unlike `Value`, does not check
//! that their strings are UTF-8).

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

pub struct Members(pub Vec<(String, Value)>);

impl Members {
    /// `Some` only for a JSON object; keeps the members named in `keys`.
    pub fn parse(body: &[u8], keys: &[&str]) -> Option<Members> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let members = Seed(keys).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(members)
    }

    /// Every value given for `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&Value> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v).collect()
    }
}

struct Seed<'k>(&'k [&'k str]);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Members;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Members, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Members;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
        let mut members = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.0.contains(&key.as_str()) {
                let value = map.next_value::<Value>()?;
                members.push((key, value));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Members(members))
    }
}
