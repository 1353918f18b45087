use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::schedule::parse_instant;

const FILE: &str = "/srv/tv/demo.playlist.yaml";

fn parse(text: &str) -> Result<Playlist, ConfigError> {
    Playlist::parse(text, Path::new(FILE))
}

fn errors(text: &str) -> Vec<ConfigError> {
    parse_all(text, Path::new(FILE)).unwrap_err()
}

/// The one error `text` produces, as `place: message`.
fn error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].file, Path::new(FILE));
    format!("{}: {}", e[0].place, e[0].message)
}

fn media(p: &Playlist, i: usize) -> &MediaItem {
    match &p.items[i] {
        Item::Media(m) => m,
        other => panic!("item {i} is {other:?}"),
    }
}

const SAMPLE: &str = r#"
items:
  - path: media/intro.mp4
    title: Intro
    in: 5s
    out: 1m30s
  - slate: 10s
    title: Station break
  - path: /abs/show.mkv
  - path: ../logo.png
    duration: 10
  - slate: 00:00:30
events: []
"#;

#[test]
fn both_kinds_of_item_with_defaults_and_resolved_paths() {
    let p = parse(SAMPLE).unwrap();
    assert_eq!(p.file, Path::new(FILE));
    assert_eq!(p.items.len(), 5);
    let intro = media(&p, 0);
    assert_eq!(intro.path, Path::new("/srv/tv/media/intro.mp4"));
    assert_eq!(intro.title, "Intro");
    assert_eq!(intro.in_point, Micros::from_secs(5));
    assert_eq!(intro.out_point, Some(Micros::from_secs(90)));
    assert_eq!(intro.duration, None);
    assert_eq!(intro.play_length(), Some(Micros::from_secs(85)));
    assert_eq!(
        p.items[1],
        Item::Slate(SlateItem {
            duration: Micros::from_secs(10),
            title: "Station break".into()
        })
    );
    let show = media(&p, 2);
    assert_eq!(show.path, Path::new("/abs/show.mkv"));
    assert_eq!(show.title, "show");
    assert_eq!(
        (show.in_point, show.out_point, show.play_length()),
        (Micros::ZERO, None, None)
    );
    let logo = media(&p, 3);
    assert_eq!(logo.path, Path::new("/srv/tv/../logo.png"));
    assert_eq!(logo.duration, Some(Micros::from_secs(10)));
    assert_eq!(p.items[4].title(), "Slate");
    assert_eq!(p.items[0].title(), "Intro");
}

#[test]
fn relative_playlist_file_is_made_absolute() {
    let p = Playlist::parse("items: [{path: a.mp4}]", Path::new("lists/p.yaml")).unwrap();
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(p.file, cwd.join("lists/p.yaml"));
    assert_eq!(media(&p, 0).path, cwd.join("lists/a.mp4"));
}

#[test]
fn play_length_takes_the_shorter_of_out_and_duration() {
    let p = parse("items:\n  - {path: a.mp4, in: 10s, out: 70s, duration: 30s}\n  - {path: b.mp4, in: 10s, out: 20s, duration: 30s}\n").unwrap();
    assert_eq!(media(&p, 0).play_length(), Some(Micros::from_secs(30)));
    assert_eq!(media(&p, 1).play_length(), Some(Micros::from_secs(10)));
}

#[test]
fn in_out_and_duration_rules() {
    let one = |item: &str| error(&format!("items:\n  - {item}\n"));
    assert_eq!(
        one("{path: a.mp4, in: 10s, out: 10s}"),
        "items[0].out: 10s is not after in 10s (expected out > in)"
    );
    assert_eq!(
        one("{path: a.mp4, in: 1m, out: 30s}"),
        "items[0].out: 30s is not after in 1m0s (expected out > in)"
    );
    assert_eq!(
        one("{path: a.mp4, out: 0}"),
        "items[0].out: 0s is not after in 0s (expected out > in)"
    );
    assert_eq!(
        one("{path: a.mp4, in: 25h}"),
        "items[0].in: 25h0m0s is too long (expected at most 24h)"
    );
    assert_eq!(
        one("{path: a.mp4, out: 24h0m1s}"),
        "items[0].out: 24h0m1s is too long (expected at most 24h)"
    );
    assert_eq!(
        one("{path: a.mp4, duration: 0s}"),
        "items[0].duration: 0s is out of range (expected more than 0s, at most 24h)"
    );
    assert_eq!(
        one("{path: a.mp4, duration: 48h}"),
        "items[0].duration: 48h0m0s is too long (expected at most 24h)"
    );
    assert_eq!(
        one("{slate: 0}"),
        "items[0].slate: 0s is out of range (expected more than 0s, at most 24h)"
    );
    assert_eq!(
        one("{slate: 1d}").split(": ").next(),
        Some("line 2 column 13")
    );
    assert_eq!(
        one("{slate: 25:00:00}"),
        "items[0].slate: 25h0m0s is too long (expected at most 24h)"
    );
    let e = one("{path: a.mp4, in: -5}");
    assert!(
        e.starts_with("line 2 column 23: items[0].in: -5 is negative"),
        "{e}"
    );
    for ok in [
        "{path: a.mp4, in: 24h}",
        "{path: a.mp4, in: 0, out: 24h}",
        "{slate: 24h}",
        "{path: a.png, duration: 0.04}",
    ] {
        parse(&format!("items:\n  - {ok}\n")).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn item_must_be_path_or_slate() {
    assert_eq!(
        error("items:\n  - path: a.mp4\n  - path: b.mp4\n    slate: 5s\n"),
        "items[1]: the item has both `path` and `slate` (expected one: `path` for media, `slate` for filler)"
    );
    assert_eq!(
        error("items:\n  - path: a.mp4\n  - path: b.mp4\n  - title: Lost\n"),
        "items[2]: the item has neither `path` nor `slate` (expected `path: FILE` for media or `slate: DURATION` for filler)"
    );
    let e = errors("items:\n  - {slate: 5s, in: 1s, duration: 2s}\n");
    let places: Vec<&str> = e.iter().map(|e| e.place.as_str()).collect();
    assert_eq!(places, ["items[0].in", "items[0].duration"]);
    assert_eq!(
        e[0].message,
        "a slate item takes no `in` (expected only `slate` and `title`; `slate` is its duration)"
    );
    assert_eq!(
        error("items: [{path: ''}]"),
        "items[0].path: the path is empty (expected a media file's path)"
    );
    let e = error("items:\n  - media/a.mp4\n");
    assert_eq!(e, "line 2 column 5: items[0]: invalid type: string \"media/a.mp4\", expected a playlist item: a mapping with `path` (media) or `slate` (filler)");
}

#[test]
fn items_list_rules() {
    assert_eq!(
        error("items: []\n"),
        "items: there are no items and no events (expected a list of at least one item, or events)"
    );
    assert_eq!(
        error("items:\n"),
        "items: there are no items and no events (expected a list of at least one item, or events)"
    );
    assert_eq!(
        error("events: []\n"),
        "items: there are no items and no events (expected a list of at least one item, or events)"
    );
    assert_eq!(
        error("items: {path: a.mp4}\n"),
        "line 1 column 8: items: invalid type: map, expected a list of at most 10000 entries"
    );
    let many: String = (0..=MAX_ITEMS).map(|_| "- {slate: 1s}\n").collect();
    let e = error(&format!("items:\n{many}"));
    assert!(
        e.ends_with("items: the list is too long (expected at most 10000 entries)"),
        "{e}"
    );
}

#[test]
fn events_are_daily_or_once_and_checked_like_items() {
    assert!(parse("items: [{slate: 1s}]\nevents: []\n").is_ok());
    assert!(parse("items: [{slate: 1s}]\nevents:\n").is_ok());
    let p = parse(
        "events:\n  - at: '20:00:00'\n    path: news.mkv\n    title: News\n  - at: '06:30'\n    \
         path: morning.mp4\n    out: 10m\n  - at: 2026-12-24T20:00:00+01:00\n    path: xmas.mp4\n",
    )
    .unwrap();
    assert!(p.items.is_empty(), "events alone are a valid playlist");
    assert_eq!(p.events.len(), 3);
    assert_eq!(
        p.events[0].at,
        When::Daily(chrono::NaiveTime::from_hms_opt(20, 0, 0).unwrap())
    );
    assert_eq!(p.events[0].media().unwrap().title, "News");
    assert_eq!(
        p.events[0].media().unwrap().path,
        Path::new("/srv/tv/news.mkv")
    );
    assert_eq!(
        p.events[1].at,
        When::Daily(chrono::NaiveTime::from_hms_opt(6, 30, 0).unwrap())
    );
    assert_eq!(
        p.events[1].media().unwrap().out_point,
        Some(Micros::from_secs(600))
    );
    assert_eq!(
        p.events[2].at,
        When::Once(parse_instant("2026-12-24T19:00:00Z").unwrap())
    );
    assert_eq!(
        error("events:\n  - at: '25:00'\n    path: a.mp4\n"),
        "events[0].at: \"25:00\" is not a time (expected HH:MM:SS, daily in the channel's time \
         zone, or an RFC 3339 instant such as 2026-12-24T20:00:00+01:00)"
    );
    assert_eq!(
        error("events:\n  - at: '20:00'\n    path: a.mp4\n    in: 5s\n    out: 2s\n"),
        "events[0].out: 2s is not after in 5s (expected out > in)"
    );
    assert_eq!(
        error("events:\n  - at: '20:00'\n"),
        "events[0]: the item has neither `path` nor `slate` (expected `path: FILE` for media or \
         `slate: DURATION` for filler)"
    );
    // A slate event: the break-in `play-now` writes for a slate.
    let p = parse("events:\n  - at: '2026-12-24T20:00:00Z'\n    slate: 30s\n    title: Break\n")
        .unwrap();
    assert_eq!(p.events[0].item.title(), "Break");
    assert!(p.events[0].media().is_none());
}

#[test]
fn title_rules() {
    let long = "t".repeat(201);
    assert_eq!(
        error(&format!("items: [{{slate: 1s, title: {long}}}]")),
        "line 1 column 28: items[0].title: the text is too long (expected at most 200 characters)"
    );
    assert!(parse(&format!(
        "items: [{{slate: 1s, title: {}}}]",
        "t".repeat(200)
    ))
    .is_ok());
    assert_eq!(
        error("items: [{slate: 1s, title: ''}]"),
        "items[0].title: the title is empty (expected 1..=200 characters)"
    );
    assert_eq!(
        error("items: [{slate: 1s, title: \"a\\nb\"}]"),
        "items[0].title: the title contains a control character (expected one line of text)"
    );
    // A title may look like a number; a default title is cut to 200 characters.
    assert_eq!(
        parse("items: [{slate: 1s, title: 1984}]").unwrap().items[0].title(),
        "1984"
    );
    let stem = "s".repeat(250);
    let p = parse(&format!("items: [{{path: {stem}.mp4}}]")).unwrap();
    assert_eq!(p.items[0].title().chars().count(), 200);
}

#[test]
fn syntax_type_unknown_and_duplicate_errors() {
    let e = errors("items:\n  - path: a.mp4\n    title: [unclosed\n");
    assert!(e[0].place.starts_with("line "), "{}", e[0]);
    assert!(
        e[0].to_string()
            .starts_with("/srv/tv/demo.playlist.yaml: line "),
        "{}",
        e[0]
    );
    assert_eq!(error("items:\n  - path: a.mp4\n    titel: x\n"), "line 3 column 5: items[0]: unknown field `titel`, expected one of `path`, `slate`, `title`, `in`, `out`, `duration`, `gain_db`, `loudness`, `overlay`");
    assert_eq!(
        error("items: [{slate: 1s}]\nloop: true\n"),
        "line 2 column 1: unknown field `loop`, expected one of `items`, `events`, `takes_effect`"
    );
    assert_eq!(error("items:\n  - path: a.mp4\n    in: soon\n"), "line 3 column 9: items[0].in: \"soon\" is not a duration (expected e.g. 90s, 1m30s, 1h, 500ms, 01:30:00 or a number of seconds)");
    assert_eq!(
        error("items:\n  - path: a.mp4\n    path: b.mp4\n"),
        "line 2 column 5: items[0]: duplicate field `path`"
    );
    assert_eq!(
        error("items: [{slate: 1s}]\nitems: [{slate: 2s}]\n"),
        "line 1 column 1: duplicate field `items`"
    );
    assert_eq!(error("[1, 2]"), "line 1 column 1: invalid type: sequence, expected a playlist file: a mapping with items and optionally events and takes_effect");
}

#[test]
fn empty_garbage_and_big_files() {
    for empty in ["", "\n", "# nothing\n", "~"] {
        assert_eq!(
            error(empty),
            ": the file is empty (expected a playlist: a mapping with `items`)"
        );
    }
    for garbage in [
        "\u{0}\u{1}\u{2}\u{3}",
        "\u{feff}\u{fffe}",
        "items: [\u{7}]",
        "{{{{",
        "&&&",
        "*x",
        "!!binary 1",
    ] {
        assert!(parse(garbage).is_err(), "{garbage:?}");
    }
    let big = format!("items: [{{slate: 1s}}]\n{}", "# pad\n".repeat(400_000));
    assert!(errors(&big)[0].message.contains("larger than 1 MiB"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, big).unwrap();
    let e = Playlist::load(&path).unwrap_err();
    assert_eq!(e.file, path);
    assert!(e.message.contains("larger than 1 MiB"), "{e}");
    std::fs::write(&path, "items:\n  - path: x.mp4\n").unwrap();
    assert_eq!(
        media(&Playlist::load(&path).unwrap(), 0).path,
        dir.path().join("x.mp4")
    );
}

#[test]
fn billion_laughs_is_rejected_quickly() {
    // Anchors may only live in known fields, so the bomb is built inside `events` and `items`.
    // Their typed entries cannot hold nested lists, so the first nested list is a type error
    // and no alias can multiply exponentially.
    let mut levels = String::from("&a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]");
    for i in 1..=9 {
        let p = i - 1;
        levels += &format!(
            ", &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]"
        );
    }
    let start = Instant::now();
    let text = format!("items: [{{slate: 1s}}]\nevents: [{levels}, *a9]\n");
    let e = error(&text);
    assert!(
        e.contains("events[0]: invalid type: sequence, expected an event"),
        "{e}"
    );
    let text = format!("items: [{{slate: 1s}}]\nevents: [{levels}, *a9]\ntitle: *a9\n");
    let e = error(&text);
    assert!(e.contains("events[0]: invalid type: sequence"), "{e}");
    let text = format!("items: [{levels}]\nevents: *a9\n");
    let e = error(&text);
    assert!(
        e.contains("items[0]: invalid type: sequence, expected a playlist item"),
        "{e}"
    );
    // The same files through `check_file`, whose first look walks every key, end fast too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.yaml");
    std::fs::write(&path, &text).unwrap();
    assert!(check_file(&path).is_err());
    std::fs::write(&path, crate::config::tests::billion_laughs("name")).unwrap();
    assert!(check_file(&path).is_err());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_large_aliased_item_is_bounded_by_the_item_cap() {
    // A 4 kB path repeated by 200 000 aliases would be 800 MB; the list stops at 10 000.
    let path = "p".repeat(4000);
    let aliases = "*i, ".repeat(200_000);
    let text = format!("items: [&i {{path: {path}}}, {aliases}]\n");
    assert!(text.len() < crate::config::MAX_FILE_BYTES);
    let start = Instant::now();
    let e = error(&text);
    assert!(
        e.ends_with("items: the list is too long (expected at most 10000 entries)"),
        "{e}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn aliases_for_repeated_items_are_fine() {
    let p = parse("items:\n  - &ad {path: ad.mp4, title: Ad}\n  - path: show1.mp4\n  - *ad\n  - path: show2.mp4\n  - *ad\n").unwrap();
    assert_eq!(p.items.len(), 5);
    assert_eq!(p.items[4], p.items[0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn parse_never_panics_on_any_text(text in "\\PC{0,200}") {
        let _ = Playlist::parse(&text, Path::new("p.yaml"));
    }

    #[test]
    fn parse_never_panics_on_yamlish_text(
        text in "((items|events|path|slate|title|in|out|duration|&a|\\*a|<<|[-:{}\\[\\],#\"'!| \n]|[a-z0-9.]{1,4}){0,80})"
    ) {
        let _ = Playlist::parse(&text, Path::new("p.yaml"));
    }

    #[test]
    fn parse_never_panics_on_lossy_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Playlist::parse(&String::from_utf8_lossy(&bytes), Path::new("p.yaml"));
    }

    #[test]
    fn valid_in_out_round_trip(a in 0i64..86_400_000_000, b in 1i64..86_400_000_000) {
        let (in_us, out_us) = (a.min(b - 1).max(0), b);
        prop_assume!(in_us < out_us);
        let text = format!("items: [{{path: a.mp4, in: {}, out: {}}}]", Micros(in_us), Micros(out_us));
        let p = Playlist::parse(&text, Path::new("/p.yaml")).unwrap();
        let m = media(&p, 0);
        prop_assert_eq!((m.in_point, m.out_point), (Micros(in_us), Some(Micros(out_us))));
    }
}

#[test]
fn gain_and_loudness_per_item() {
    let p = parse("items:\n  - path: a.mp4\n    gain_db: -3.5\n  - path: b.mp4\n    loudness: false\n  - path: c.mp4\n").unwrap();
    assert_eq!(
        (media(&p, 0).gain_mdb, media(&p, 0).loudness),
        (Some(-3_500), true)
    );
    assert_eq!(
        (media(&p, 1).gain_mdb, media(&p, 1).loudness),
        (None, false)
    );
    assert_eq!((media(&p, 2).gain_mdb, media(&p, 2).loudness), (None, true));
    assert_eq!(
        error("items:\n  - path: a.mp4\n    gain_db: 40\n"),
        "items[0].gain_db: 40 is out of range (expected -30..=30 dB)"
    );
    assert!(error("items:\n  - slate: 5s\n    gain_db: 2\n")
        .starts_with("items[0].gain_db: a slate item takes no `gain_db`"));
    assert!(error("items:\n  - path: a.mp4\n    loudness: maybe\n")
        .contains("items[0].loudness: invalid type"));
}
