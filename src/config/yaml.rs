//! Reading a hand-written YAML file the same guarded way for channel and playlist files: a
//! size cap before anything is parsed, UTF-8 checked with a position, and serde_yaml's errors
//! turned into `ConfigError`s that point at a line and column.
//!
//! Alias expansion ("billion laughs") is bounded by serde_yaml itself (at most 100 alias
//! jumps per event in the document); what it does not bound, the memory of many copies of one
//! large string, is bounded by the `Text` and `List` caps in `values`.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

use super::ConfigError;

/// Configuration is small and hand-written; the cap keeps a wrong path (a video file,
/// `/dev/zero`) or a hostile file from being read into memory whole.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Reads at most `MAX_FILE_BYTES` (+1, to tell "exactly at the cap" from "over it").
pub(crate) fn read(path: &Path) -> Result<String, ConfigError> {
    read_with(path, &|e| {
        ConfigError::new(
            path,
            "",
            format!("cannot read the file: {e} (expected a readable YAML file)"),
        )
    })
}

/// `read` for a file that another one names at `field`: a file that cannot be read is the
/// mistake of the file that names it (`by`), and the error says so under `by`'s name.
pub(crate) fn read_named(path: &Path, by: &Path, field: &str) -> Result<String, ConfigError> {
    read_with(path, &|e| {
        ConfigError::new(
            by,
            field,
            format!(
                "{}: cannot read the file: {e} (expected a readable YAML file)",
                path.display()
            ),
        )
    })
}

fn read_with(
    path: &Path,
    cannot: &dyn Fn(std::io::Error) -> ConfigError,
) -> Result<String, ConfigError> {
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    check_size(path, bytes.len())?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // The prefix before the first bad byte is valid UTF-8 by definition.
        let before = std::str::from_utf8(valid).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ConfigError::new(
            path,
            format!("line {line} column {column}"),
            "the file is not UTF-8 text (expected a YAML text file)",
        )
    })
}

fn check_size(path: &Path, len: usize) -> Result<(), ConfigError> {
    if len > MAX_FILE_BYTES {
        return Err(ConfigError::new(
            path,
            "",
            "the file is larger than 1 MiB (expected a hand-written YAML file under 1 MiB)",
        ));
    }
    Ok(())
}

/// Parses one YAML document. `Ok(None)` is an empty document (nothing, only comments, `~`),
/// which each caller reports in its own words.
pub(crate) fn parse<T: DeserializeOwned>(
    text: &str,
    file: &Path,
) -> Result<Option<T>, ConfigError> {
    check_size(file, text.len())?;
    if let Some((line, column)) = too_deep(text) {
        return Err(ConfigError::new(
            file,
            format!("line {line} column {column}"),
            explain("recursion limit exceeded".to_string()),
        ));
    }
    serde_yaml::from_str::<Option<T>>(text).map_err(|e| {
        let mut e = error(file, &e);
        if let Some(line) = unquoted_colour(text) {
            e.message += &format!(
                " (note: line {line} has an unquoted #, which starts a YAML comment; write \
                 colours in quotes, e.g. \"#1a1a2e\")"
            );
        }
        e
    })
}

/// serde_yaml stops at 128 levels, but only after libyaml has scanned the whole document,
/// and libyaml's scanner does work per open flow collection for every token: 5000 nested `[`
/// take most of a second. This pass finds the first bracket past the limit (line, column)
/// in linear time. It skips quoted scalars and comments the way YAML starts them (a quote
/// or `#` at the start of a token), so brackets in titles do not count.
pub(crate) fn too_deep(text: &str) -> Option<(usize, usize)> {
    const LIMIT: usize = 128;
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let mut quote: Option<char> = None;
    let (mut comment, mut escaped) = (false, false);
    let mut prev = '\n';
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            (line, column, comment) = (line + 1, 0, false);
        }
        let token_start = prev.is_whitespace() || matches!(prev, '[' | '{' | ',' | ':');
        match quote {
            _ if comment => {}
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '#' && token_start => comment = true,
            None if (c == '"' || c == '\'') && token_start => quote = Some(c),
            None if c == '[' || c == '{' => {
                depth += 1;
                if depth > LIMIT {
                    return Some((line, column));
                }
            }
            None if c == ']' || c == '}' => depth = depth.saturating_sub(1),
            None => {}
        }
        prev = c;
    }
    None
}

/// The first line with `: #rrggbb` unquoted: in a flow mapping (`{ background: #1a1a2e }`)
/// the comment swallows the closing brace and libyaml reports a confusing syntax error
/// a line later.
fn unquoted_colour(text: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.match_indices(": #").any(|(i, _)| {
                let hex = l[i + 3..].bytes().take_while(u8::is_ascii_hexdigit).count();
                hex == 6 || hex == 3
            })
        })
        .map(|i| i + 1)
}

/// serde_yaml's message already carries the field path (`video.width: …`) and appends the
/// position; the position moves to `place` so every error has the same three parts.
pub(crate) fn error(file: &Path, err: &serde_yaml::Error) -> ConfigError {
    let text = err.to_string();
    let (place, message) = match err.location() {
        Some(loc) => {
            let place = format!("line {} column {}", loc.line(), loc.column());
            let message = text.replacen(&format!(" at {place}"), "", 1);
            (place, message)
        }
        None => (String::new(), text),
    };
    ConfigError::new(file, place, explain(message))
}

/// serde_yaml's wording for its limits names the mechanism, not what the author should do.
fn explain(message: String) -> String {
    match message.as_str() {
        "repetition limit exceeded" => "anchors and aliases expand to too much data \
             (expected aliases that repeat a few items, not an exponential expansion)"
            .to_string(),
        "recursion limit exceeded" => {
            "the document is nested too deeply (expected at most 128 levels)".to_string()
        }
        "deserializing from YAML containing more than one document is not supported" => {
            "the file holds more than one YAML document (expected one; remove the extra `---`)"
                .to_string()
        }
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        a: Option<u32>,
    }

    fn err(text: &str) -> ConfigError {
        parse::<Probe>(text, Path::new("x.yaml")).unwrap_err()
    }

    #[test]
    fn empty_documents_are_none() {
        for text in ["", "\n\n", "# only a comment\n", "~", "---\n"] {
            assert!(parse::<Probe>(text, Path::new("x.yaml")).unwrap().is_none());
        }
    }

    #[test]
    fn syntax_error_has_line_and_column_in_place_not_message() {
        let e = err("a: 1\nb: [1, 2\n");
        assert!(e.place.starts_with("line "), "{e}");
        assert!(!e.message.contains(&format!(" at {}", e.place)), "{e}");
        assert!(e.to_string().starts_with("x.yaml: line "), "{e}");
    }

    #[test]
    fn type_error_names_field_and_position() {
        let e = err("a: many");
        assert_eq!(e.place, "line 1 column 4");
        assert!(
            e.message.starts_with("a: invalid type: string \"many\""),
            "{e}"
        );
    }

    #[test]
    fn unquoted_colour_in_a_flow_mapping_gets_a_hint() {
        let e = err("a: 1\nb: { c: #1a1a2e }\nd: 2\n");
        assert!(e.message.ends_with("(note: line 2 has an unquoted #, which starts a YAML comment; write colours in quotes, e.g. \"#1a1a2e\")"), "{e}");
        assert!(!err("a: x\nb: \"#1a1a2e\"\n").message.contains("note:"));
    }

    #[test]
    fn several_documents_are_explained() {
        let e = err("a: 1\n---\na: 2\n");
        assert!(e.message.contains("more than one YAML document"), "{e}");
    }

    #[test]
    fn file_over_one_mib_is_rejected_before_parsing() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let line = "# padding padding padding padding padding padding padding padding\n";
        for _ in 0..(2 * MAX_FILE_BYTES / line.len()) {
            f.write_all(line.as_bytes()).unwrap();
        }
        let e = read(f.path()).unwrap_err();
        assert!(e.message.contains("larger than 1 MiB"), "{e}");
        // The same cap holds for text handed in directly.
        let big = line.repeat(2 * MAX_FILE_BYTES / line.len());
        let e = parse::<Probe>(&big, Path::new("big.yaml")).unwrap_err();
        assert!(e.message.contains("larger than 1 MiB"), "{e}");
    }

    #[test]
    fn a_file_of_exactly_one_mib_is_read() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&vec![b'#'; MAX_FILE_BYTES]).unwrap();
        assert_eq!(read(f.path()).unwrap().len(), MAX_FILE_BYTES);
    }

    #[test]
    fn invalid_utf8_is_located() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"a: 1\nb: \xff\xfe\n").unwrap();
        let e = read(f.path()).unwrap_err();
        assert_eq!(e.place, "line 2 column 4");
        assert!(e.message.contains("not UTF-8"), "{e}");
    }

    #[test]
    fn missing_file_and_directory_are_errors() {
        let e = read(Path::new("/nonexistent/dir/x.yaml")).unwrap_err();
        assert!(e.message.starts_with("cannot read the file"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read(dir.path()).unwrap_err();
        assert!(e.message.starts_with("cannot read the file"), "{e}");
    }

    #[test]
    fn serde_yaml_stops_an_expanding_alias_bomb() {
        // Our file structs never expand such a bomb (see the playlist tests); this pins the
        // limit they would fall back on, and the wording it gets.
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..=9 {
            let p = i - 1;
            let refs = vec![format!("*a{p}"); 10].join(", ");
            text += &format!("a{i}: &a{i} [{refs}]\n");
        }
        let start = std::time::Instant::now();
        let e = parse::<serde_yaml::Value>(&text, Path::new("x.yaml")).unwrap_err();
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        assert!(
            e.message
                .starts_with("anchors and aliases expand to too much data"),
            "{e}"
        );
    }

    #[test]
    fn deep_nesting_is_rejected() {
        let text = format!("a: {}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = err(&text);
        assert!(e.message.contains("nested too deeply"), "{e}");
        // The first bracket past the limit: "a: " then 129 of them.
        assert_eq!(e.place, "line 1 column 132");
    }

    #[test]
    fn nesting_depth_ignores_brackets_in_quotes_and_comments() {
        let many = "[".repeat(200);
        assert_eq!(too_deep(&format!("a: \"{many}\"\n")), None);
        assert_eq!(too_deep(&format!("a: '{many}'\n")), None);
        assert_eq!(too_deep(&format!("a: \"\\\" {many}\"\n")), None);
        assert_eq!(too_deep(&format!("a: 1 # {many}\nb: 2\n")), None);
        // An apostrophe inside a plain scalar does not open a quote.
        assert_eq!(too_deep(&format!("a: don't\nb: {many}\n")), Some((2, 132)));
        let nested = format!("{}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(too_deep(&format!("a: {nested}\n")), None);
        assert!(
            parse::<serde_yaml::Value>(&format!("a: {nested}\n"), Path::new("x.yaml"))
                .is_err_and(|e| e.message.contains("nested too deeply"))
        );
    }
}
