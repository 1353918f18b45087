//! `${NAME}` in a channel file's secrets (output URLs, the live key, the API token), from
//! the environment. Errors name the variable, never the value's other text.

/// Why `${…}` in a value cannot be expanded. It names the variable, never the value's other
/// text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("has an unterminated ${{ (expected ${{NAME}})")]
    Unterminated,
    #[error(
        "has ${{{0}}}, which is not a variable name (expected ${{NAME}} with letters, digits \
         and _)"
    )]
    NotAName(String),
    #[error("environment variable {0} is not set (expected it to hold the value for ${{{0}}})")]
    Unset(String),
    #[error("environment variable {0} is set but empty (expected a value for ${{{0}}})")]
    Empty(String),
}

/// Replaces each `${NAME}` with the variable's value, in one pass (a value containing `${`
/// is not expanded again). A `$` not followed by `{` is kept literally. Errors name the
/// variable but never show the template's other text.
pub fn expand_env(
    template: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(EnvError::Unterminated);
        };
        let name = &after[..end];
        let valid = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(EnvError::NotAName(crate::config::values::clip(name)));
        }
        match env(name) {
            None => return Err(EnvError::Unset(name.to_string())),
            Some(v) if v.is_empty() => return Err(EnvError::Empty(name.to_string())),
            Some(v) => out.push_str(&v),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("abc".into()),
            "EMPTY" => Some(String::new()),
            "LOOP" => Some("${KEY}".into()),
            _ => None,
        }
    }

    #[test]
    fn expansion() {
        assert_eq!(
            expand_env("rtmp://h/app/${KEY}", &env).unwrap(),
            "rtmp://h/app/abc"
        );
        assert_eq!(expand_env("${KEY}${KEY}", &env).unwrap(), "abcabc");
        assert_eq!(expand_env("a$b$", &env).unwrap(), "a$b$");
        assert_eq!(expand_env("${LOOP}", &env).unwrap(), "${KEY}");
        assert_eq!(
            expand_env("x/${MISSING}", &env).unwrap_err().to_string(),
            "environment variable MISSING is not set (expected it to hold the value for ${MISSING})"
        );
        assert!(expand_env("${EMPTY}", &env)
            .unwrap_err()
            .to_string()
            .contains("set but empty"));
        assert!(expand_env("a/${KEY", &env)
            .unwrap_err()
            .to_string()
            .contains("unterminated"));
        assert!(expand_env("${1X}", &env)
            .unwrap_err()
            .to_string()
            .contains("not a variable name"));
        assert!(expand_env("${}", &env)
            .unwrap_err()
            .to_string()
            .contains("not a variable name"));
    }

    proptest! {
        #[test]
        fn expansion_never_panics(s in "\\PC{0,40}") {
            let _ = expand_env(&s, &env);
        }
    }
}
