//! Values as they are written in the files: frame rates, bit rates, colours, and strings and
//! lists with a size cap. Only the *form* is checked here, while deserializing, so a typo is
//! reported with its line and column; ranges are checked in `validate()` with the field path.
//!
//! The caps matter because serde_yaml bounds how many aliases it expands but not what each
//! expansion allocates: a 100 kB string referenced by 200 000 aliases would be 20 GB. A `Text`
//! refuses a long string before copying it, and a `List` stops at its maximum length.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

use crate::time::Rational;

/// A string of at most `MAX` characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Text<const MAX: usize>(pub String);

impl<'de, const MAX: usize> Deserialize<'de> for Text<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MAX: usize>;
        impl<const MAX: usize> Visitor<'_> for V<MAX> {
            type Value = Text<MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "text of at most {MAX} characters")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<MAX>, E> {
                // A char is at most 4 bytes, so a long string is refused without counting.
                if v.len() > 4 * MAX || v.chars().count() > MAX {
                    return Err(E::custom(format!(
                        "the text is too long (expected at most {MAX} characters)"
                    )));
                }
                Ok(Text(v.to_owned()))
            }
        }
        d.deserialize_str(V::<MAX>)
    }
}

/// A list of at most `MAX` elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct List<T, const MAX: usize>(pub Vec<T>);

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for List<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = List<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a list of at most {MAX} entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T, MAX>, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    if out.len() == MAX {
                        return Err(de::Error::custom(format!(
                            "the list is too long (expected at most {MAX} entries)"
                        )));
                    }
                    out.push(v);
                }
                Ok(List(out))
            }
        }
        d.deserialize_seq(V::<T, MAX>(PhantomData))
    }
}

/// For `#[serde(default, deserialize_with = "present_or_null")]` on an `Option<Option<T>>`:
/// a missing key stays `None`, an explicit null becomes `Some(None)`. Needed where YAML's
/// comment syntax turns a plausible value into null (`background: #1a1a2e`).
pub(crate) fn present_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A frame rate as written: `30`, `29.97`, `12.5`, `"30000/1001"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fps(pub Rational);

const FPS_EXPECTED: &str = "expected e.g. 30, 29.97, 12.5 or \"30000/1001\"";

impl<'de> Deserialize<'de> for Fps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Fps;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a frame rate ({FPS_EXPECTED})")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fps, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fps, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Fps, E> {
                // Rust prints the shortest decimal that reads back as the same f64, so the
                // `29.97` the author wrote comes back as "29.97" and is parsed exactly.
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Fps, E> {
                parse_fps(v).map(Fps).ok_or_else(|| {
                    E::custom(format!(
                        "{:?} is not a frame rate ({FPS_EXPECTED})",
                        clip(v)
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// The NTSC-family rates everyone writes as decimals, mapped to their exact N*1000/1001.
const NTSC: [(u64, i64); 5] = [
    (23_976, 24_000),
    (29_970, 30_000),
    (47_952, 48_000),
    (59_940, 60_000),
    (119_880, 120_000),
];

pub(crate) fn parse_fps(s: &str) -> Option<Rational> {
    let s = s.trim();
    if let Some((n, d)) = s.split_once('/') {
        let (n, d) = (digits_u64(n.trim())?, digits_u64(d.trim())?);
        return if d == 0 { None } else { reduced(n, d) };
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || (s.contains('.') && frac.is_empty()) {
        return None;
    }
    let millis = digits_u64(int)?
        .checked_mul(1000)?
        .checked_add(if frac.is_empty() {
            0
        } else {
            digits_u64(frac)? * 10u64.pow(3 - frac.len() as u32)
        })?;
    if let Some(&(_, num)) = NTSC.iter().find(|(m, _)| *m == millis) {
        return Some(Rational::new(num, 1001));
    }
    reduced(millis, 1000)
}

/// Reduced, and small enough for libav's `i32` rationals.
fn reduced(n: u64, d: u64) -> Option<Rational> {
    let g = gcd(n, d).max(1);
    let (n, d) = (n / g, d / g);
    let limit = i32::MAX as u64;
    (n <= limit && d <= limit).then(|| Rational::new(n as i64, d as i64))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn digits_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `30`, `29.97`, `12.5`: for messages and summaries only.
pub fn format_fps(fps: Rational) -> String {
    if fps.den == 1 {
        return fps.num.to_string();
    }
    if fps.den <= 0 {
        return fps.to_string();
    }
    let hundredths = (fps.num as i128 * 100 + fps.den as i128 / 2) / fps.den as i128;
    let s = format!("{}.{:02}", hundredths / 100, hundredths % 100);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A bit rate in bits per second, written `3000k`, `3M`, `2.5M`, `128k` or `3000000`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bitrate(pub u64);

const BITRATE_EXPECTED: &str = "expected e.g. 3000k, 3M or 3000000 bits per second";

impl<'de> Deserialize<'de> for Bitrate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bitrate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a bit rate ({BITRATE_EXPECTED})")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bitrate, E> {
                Ok(Bitrate(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bitrate, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bitrate, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bitrate, E> {
                parse_bitrate(v).map(Bitrate).ok_or_else(|| {
                    E::custom(format!(
                        "{:?} is not a bit rate ({BITRATE_EXPECTED})",
                        clip(v)
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn parse_bitrate(s: &str) -> Option<u64> {
    let s = s.trim();
    let (number, scale) = if let Some(n) = s.strip_suffix(['k', 'K']) {
        (n, 1_000u64)
    } else if let Some(n) = s.strip_suffix('M') {
        (n, 1_000_000)
    } else {
        (s, 1)
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.len() > 6 || (number.contains('.') && frac.is_empty()) {
        return None;
    }
    let whole = digits_u64(int)?.checked_mul(scale)?;
    if frac.is_empty() {
        return Some(whole);
    }
    let pow = 10u64.pow(frac.len() as u32);
    let part = digits_u64(frac)?.checked_mul(scale)?;
    // `2.5M` is fine, `2.5` or `1.0001k` is not a whole number of bits.
    (part % pow == 0)
        .then(|| whole.checked_add(part / pow))
        .flatten()
}

/// A size in bytes: `8G`, `500M`, `64K` (binary: K = 1024), optionally with `B`/`iB`
/// (`8GiB`), or a plain number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByteSize(pub u64);

const BYTES_EXPECTED: &str = "expected e.g. 8G, 500M, 64K or a number of bytes";

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a size ({BYTES_EXPECTED})")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_bytes(v).map(ByteSize).ok_or_else(|| {
                    E::custom(format!("{:?} is not a size ({BYTES_EXPECTED})", clip(v)))
                })
            }
        }
        d.deserialize_any(V)
    }
}

pub(crate) fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let (number, shift) = match s.chars().last()? {
        'K' | 'k' => (&s[..s.len() - 1], 10),
        'M' => (&s[..s.len() - 1], 20),
        'G' => (&s[..s.len() - 1], 30),
        'T' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    digits_u64(number.trim_end())?.checked_mul(1u64 << shift)
}

/// `8G`, `500M`, `1536`: for messages.
pub fn format_bytes(n: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if n != 0 && n % (1u64 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

/// `3M`, `128k`, `1500`: for messages and summaries only.
pub fn format_bitrate(bps: u64) -> String {
    if bps != 0 && bps % 1_000_000 == 0 {
        format!("{}M", bps / 1_000_000)
    } else if bps != 0 && bps % 1000 == 0 {
        format!("{}k", bps / 1000)
    } else {
        bps.to_string()
    }
}

/// `#rrggbb` (either case) to RGB.
pub(crate) fn parse_colour(s: &str) -> Option<[u8; 3]> {
    let hex = s.trim().strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// Keeps messages one readable line when the offending value is long.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fps(s: &str) -> Option<(i64, i64)> {
        parse_fps(s).map(|r| (r.num, r.den))
    }

    #[test]
    fn fps_forms() {
        assert_eq!(fps("30"), Some((30, 1)));
        assert_eq!(fps("25.0"), Some((25, 1)));
        assert_eq!(fps("23.976"), Some((24000, 1001)));
        assert_eq!(fps("29.97"), Some((30000, 1001)));
        assert_eq!(fps("29.970"), Some((30000, 1001)));
        assert_eq!(fps("47.952"), Some((48000, 1001)));
        assert_eq!(fps("59.94"), Some((60000, 1001)));
        assert_eq!(fps("119.88"), Some((120000, 1001)));
        assert_eq!(fps("12.5"), Some((25, 2)));
        assert_eq!(fps("14.985"), Some((2997, 200)));
        assert_eq!(fps("30000/1001"), Some((30000, 1001)));
        assert_eq!(fps("60/2"), Some((30, 1)));
        assert_eq!(fps(" 24 / 1 "), Some((24, 1)));
        for bad in [
            "",
            "abc",
            "29.9701",
            "30.",
            ".5x",
            "-30",
            "1/0",
            "30/",
            "/2",
            "1e3",
            "nan",
            "inf",
            "99999999999999999999",
            "4294967296000/1",
        ] {
            assert_eq!(fps(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fps_from_yaml_numbers_and_strings() {
        let f = |y: &str| serde_yaml::from_str::<Fps>(y).map(|f| f.0);
        assert_eq!(f("29.97").unwrap(), Rational::new(30000, 1001));
        assert_eq!(f("30").unwrap(), Rational::new(30, 1));
        assert_eq!(f("30.0").unwrap(), Rational::new(30, 1));
        assert_eq!(f("30000/1001").unwrap(), Rational::new(30000, 1001));
        assert_eq!(f("\"23.976\"").unwrap(), Rational::new(24000, 1001));
        let e = f("fast").unwrap_err().to_string();
        assert!(
            e.contains("\"fast\" is not a frame rate (expected e.g. 30"),
            "{e}"
        );
        assert!(f("-5").is_err());
        assert!(f(".nan").is_err());
        assert!(f("[30]").is_err());
    }

    #[test]
    fn fps_display() {
        assert_eq!(format_fps(Rational::new(30, 1)), "30");
        assert_eq!(format_fps(Rational::new(30000, 1001)), "29.97");
        assert_eq!(format_fps(Rational::new(24000, 1001)), "23.98");
        assert_eq!(format_fps(Rational::new(25, 2)), "12.5");
    }

    #[test]
    fn bitrate_forms() {
        assert_eq!(parse_bitrate("3000k"), Some(3_000_000));
        assert_eq!(parse_bitrate("128K"), Some(128_000));
        assert_eq!(parse_bitrate("3M"), Some(3_000_000));
        assert_eq!(parse_bitrate("2.5M"), Some(2_500_000));
        assert_eq!(parse_bitrate("1500000"), Some(1_500_000));
        for bad in [
            "",
            "k",
            "3m",
            "3 Mbps",
            "2.5",
            "1.0001k",
            "-3M",
            "3.M",
            "1e6",
            "99999999999999999999M",
        ] {
            assert_eq!(parse_bitrate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bitrate_from_yaml() {
        let b = |y: &str| serde_yaml::from_str::<Bitrate>(y).map(|b| b.0);
        assert_eq!(b("3000k").unwrap(), 3_000_000);
        assert_eq!(b("3000000").unwrap(), 3_000_000);
        assert_eq!(b("3000000.0").unwrap(), 3_000_000);
        let e = b("fast").unwrap_err().to_string();
        assert!(
            e.contains("\"fast\" is not a bit rate (expected e.g. 3000k"),
            "{e}"
        );
        assert!(b("-1").is_err());
        assert!(b("1.5").is_err());
    }

    #[test]
    fn byte_sizes() {
        let b = |y: &str| serde_yaml::from_str::<ByteSize>(y).map(|b| b.0);
        assert_eq!(b("8G").unwrap(), 8 << 30);
        assert_eq!(b("8GiB").unwrap(), 8 << 30);
        assert_eq!(b("500M").unwrap(), 500 << 20);
        assert_eq!(b("64k").unwrap(), 64 << 10);
        assert_eq!(b("1536").unwrap(), 1536);
        assert_eq!(b("100B").unwrap(), 100);
        for bad in ["8X", "G", "-1", "1.5G", "99999999999T", "''"] {
            let e = b(bad).unwrap_err().to_string();
            assert!(
                e.contains("is not a size") || e.contains("invalid"),
                "{bad}: {e}"
            );
        }
        assert_eq!(format_bytes(8 << 30), "8G");
        assert_eq!(format_bytes(1536), "1536 bytes");
    }

    #[test]
    fn bitrate_display() {
        assert_eq!(format_bitrate(3_000_000), "3M");
        assert_eq!(format_bitrate(128_000), "128k");
        assert_eq!(format_bitrate(1_500), "1500");
        assert_eq!(format_bitrate(0), "0");
    }

    #[test]
    fn colours() {
        assert_eq!(parse_colour("#1a1a2e"), Some([0x1a, 0x1a, 0x2e]));
        assert_eq!(parse_colour("#FFFFFF"), Some([255, 255, 255]));
        for bad in [
            "1a1a2e", "#1a1a2", "#1a1a2e0", "#gggggg", "red", "#", "#ééé",
        ] {
            assert_eq!(parse_colour(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn text_and_list_caps() {
        assert_eq!(serde_yaml::from_str::<Text<3>>("abc").unwrap().0, "abc");
        assert_eq!(serde_yaml::from_str::<Text<3>>("héé").unwrap().0, "héé");
        let e = serde_yaml::from_str::<Text<3>>("abcd")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("too long (expected at most 3 characters)"),
            "{e}"
        );
        // Numbers and booleans are text too: a title may be `1984`.
        assert_eq!(serde_yaml::from_str::<Text<9>>("1984").unwrap().0, "1984");
        assert_eq!(
            serde_yaml::from_str::<List<u8, 2>>("[1, 2]").unwrap().0,
            vec![1, 2]
        );
        let e = serde_yaml::from_str::<List<u8, 2>>("[1, 2, 3]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("too long (expected at most 2 entries)"), "{e}");
    }

    proptest! {
        #[test]
        fn any_string_parses_or_not_without_panic(s in "\\PC{0,24}") {
            let _ = parse_fps(&s);
            let _ = parse_bitrate(&s);
            let _ = parse_colour(&s);
        }

        #[test]
        fn fps_within_three_decimals_is_exact(millis in 1_000u64..=120_000) {
            let s = format!("{}.{:03}", millis / 1000, millis % 1000);
            let r = parse_fps(&s).unwrap();
            let ntsc = NTSC.iter().any(|(m, _)| *m == millis);
            if !ntsc {
                prop_assert_eq!(r.num as u64 * 1000, millis * r.den as u64);
            }
        }
    }
}
