use super::*;

fn target() -> LoudnessTarget {
    LoudnessTarget {
        lufs_milli: -23_000,
        true_peak_milli: -1_000,
    }
}

fn item() -> MediaItem {
    MediaItem::whole("/nonexistent/a.mp4", "a")
}

fn measured(i: f64) -> Measured {
    Ok(Measure {
        integrated: i,
        range: 3.0,
        true_peak: -5.0,
    })
}

#[test]
fn static_gain_brings_the_item_to_the_target() {
    let g = decide(&target(), &item(), Some(&measured(-35.0)));
    assert!(
        matches!(g, Gain::Static { db, .. } if (db - 12.0).abs() < 1e-9),
        "{g:?}"
    );
    let g = decide(&target(), &item(), Some(&measured(-9.0)));
    assert!(
        matches!(g, Gain::Static { db, .. } if (db + 14.0).abs() < 1e-9),
        "{g:?}"
    );
    let c = chain(&g, &target()).unwrap();
    assert!(c.starts_with("volume=volume=-14.000dB"), "{c}");
    // The limiter sits 1 dB under the -1 dBTP ceiling: 10^(-2/20).
    assert!(c.contains("alimiter=limit=0.79433"), "{c}");
    assert!(c.contains("level=false"), "{c}");
}

#[test]
fn silence_unmeasured_and_opted_out_items() {
    assert!(matches!(
        decide(&target(), &item(), Some(&measured(-70.0))),
        Gain::Off(_)
    ));
    assert!(matches!(
        decide(&target(), &item(), Some(&measured(f64::NEG_INFINITY))),
        Gain::Off(_)
    ));
    assert!(matches!(
        decide(&target(), &item(), Some(&Err("bad".into()))),
        Gain::Off(_)
    ));
    assert_eq!(decide(&target(), &item(), None), Gain::Dynamic);
    assert!(chain(&Gain::Dynamic, &target())
        .unwrap()
        .starts_with("loudnorm=I=-23.0:TP=-2.0"));
    let off = MediaItem {
        loudness: false,
        ..item()
    };
    assert!(matches!(decide(&target(), &off, None), Gain::Off(_)));
    assert_eq!(chain(&Gain::Off("x".into()), &target()), None);
    let fixed = MediaItem {
        gain_mdb: Some(-3_000),
        ..item()
    };
    assert!(matches!(
        decide(&target(), &fixed, Some(&measured(-40.0))),
        Gain::Static { db, .. } if db == -3.0
    ));
}

#[test]
fn gains_are_bounded() {
    let g = decide(&target(), &item(), Some(&measured(-59.0)));
    assert!(
        matches!(g, Gain::Static { db, .. } if db == MAX_BOOST_DB),
        "{g:?}"
    );
}

#[test]
fn cache_sits_beside_the_state_file() {
    assert_eq!(
        cache_path(Path::new("/x/demo.state.json")),
        Path::new("/x/demo.loudness.json")
    );
    assert_eq!(
        cache_path(Path::new("/x/anchor")),
        Path::new("/x/anchor.loudness.json")
    );
}

#[test]
fn cache_round_trips_and_a_broken_one_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.loudness.json");
    let k = Key {
        path: "/m/a.mp4".into(),
        size: 5,
        mtime_ns: 7,
        in_us: 0,
        len_us: Some(1_000_000),
    };
    let mut t = HashMap::new();
    t.insert(k.clone(), measured(-20.0));
    t.insert(
        Key {
            size: 6,
            ..k.clone()
        },
        Err("no audio".into()),
    );
    save(&f, &t).unwrap();
    assert_eq!(load(&f), t);
    fs::write(&f, b"{not json").unwrap();
    assert!(load(&f).is_empty());
}
