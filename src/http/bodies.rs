//! The control API's request bodies, as types. Each refuses a key it does not know, so a
//! misspelt `positon` is a 400 naming it instead of an edit made at the wrong place. The
//! playlist and an event are not here: they go into the file as given, and the playlist's
//! own parser judges them with the place named.

use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;
use serde_json::{Map, Value};

/// `POST /api/v1/playlist/items`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertItem {
    /// An entry as in the file: `{"path": …}` or `{"slate": …}`, with its options.
    pub item: Map<String, Value>,
    /// Where it goes (from 0); the end when absent or null.
    #[serde(default, deserialize_with = "position")]
    pub position: Option<usize>,
}

pub const INSERT_ITEM: &str =
    "expected {\"item\": {\"path\": …} or {\"slate\": …}, \"position\": N}";

/// `POST /api/v1/playlist/items/{index}/move`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveItem {
    pub to: usize,
}

pub const MOVE_ITEM: &str = "expected {\"to\": N}";

/// `POST /api/v1/play-now`: a library file or a slate, not both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayNow {
    /// A library file's name.
    pub path: Option<String>,
    /// How long, as the file says it (`"30s"`) or in seconds.
    pub slate: Option<Slate>,
    pub title: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Slate {
    Text(String),
    Seconds(serde_json::Number),
}

impl Slate {
    pub fn to_value(&self) -> Value {
        match self {
            Slate::Text(t) => Value::String(t.clone()),
            Slate::Seconds(n) => Value::Number(n.clone()),
        }
    }
}

pub const PLAY_NOW: &str =
    "expected {\"path\": NAME} (a library file) or {\"slate\": DURATION}, and optionally \"title\"";

fn position<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|p| usize::try_from(p).ok())
            .map(Some)
            .ok_or_else(|| D::Error::custom("position must be a whole number from 0")),
    }
}

/// A body that is not the request's type: what was wrong, then what is expected (the 400's
/// message).
#[derive(Debug, thiserror::Error)]
#[error("{source}; {expected}")]
pub struct BodyError {
    source: serde_json::Error,
    expected: &'static str,
}

/// The body as `T`, or why not.
pub fn decode<T: DeserializeOwned>(body: Value, expected: &'static str) -> Result<T, BodyError> {
    serde_json::from_value(body).map_err(|source| BodyError { source, expected })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bodies_take_their_keys_and_refuse_others_by_name() {
        let ok: InsertItem = decode(json!({"item": {"slate": "5s"}}), INSERT_ITEM).unwrap();
        assert_eq!((ok.item.len(), ok.position), (1, None));
        let at: InsertItem = decode(json!({"item": {}, "position": 2}), INSERT_ITEM).unwrap();
        assert_eq!(at.position, Some(2));
        let e = decode::<InsertItem>(json!({"item": {}, "positon": 2}), INSERT_ITEM)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `positon`"), "{e}");
        let e = decode::<InsertItem>(json!({"item": {}, "position": -1}), INSERT_ITEM)
            .unwrap_err()
            .to_string();
        assert!(e.contains("position must be a whole number from 0"), "{e}");
        let e = decode::<InsertItem>(json!({"item": "x.mp4"}), INSERT_ITEM)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with(INSERT_ITEM), "{e}");
        assert_eq!(
            decode::<MoveItem>(json!({"to": 3}), MOVE_ITEM).unwrap().to,
            3
        );
        assert!(decode::<MoveItem>(json!({}), MOVE_ITEM).is_err());
        let p: PlayNow = decode(json!({"slate": 30, "title": "Break"}), PLAY_NOW).unwrap();
        assert_eq!(p.slate.map(|s| s.to_value()), Some(json!(30)));
        assert!(decode::<PlayNow>(json!({"file": "a.mp4"}), PLAY_NOW).is_err());
    }
}
