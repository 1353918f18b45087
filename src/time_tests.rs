use super::*;
use proptest::prelude::*;

fn p(s: &str) -> Micros {
    s.parse().unwrap()
}

#[test]
fn parses_every_documented_form() {
    assert_eq!(p("90"), Micros::from_secs(90));
    assert_eq!(p("1.5"), Micros(1_500_000));
    assert_eq!(p("90s"), Micros::from_secs(90));
    assert_eq!(p("500ms"), Micros(500_000));
    assert_eq!(p("1m30s"), Micros::from_secs(90));
    assert_eq!(p("2h"), Micros::from_secs(7200));
    assert_eq!(p("1h2m3.5s"), Micros(3_723_500_000));
    assert_eq!(p("01:30"), Micros::from_secs(90));
    assert_eq!(p("01:30:00"), Micros::from_secs(5400));
    assert_eq!(p("00:00:01.250"), Micros(1_250_000));
}

#[test]
fn rejects_nonsense() {
    for s in [
        "5124095577h",
        "",
        "-1s",
        "abc",
        "1x",
        "s",
        "1s1m",
        "1:60",
        "1:2:3:4",
        "1.",
        "1..2s",
        "5mss",
        "+3",
    ] {
        assert!(s.parse::<Micros>().is_err(), "{s:?} should not parse");
    }
}

#[test]
fn display_round_trips() {
    for s in ["0s", "1.5s", "1m30s", "1h0m0.04s", "2h3m4s"] {
        assert_eq!(p(s).to_string(), s);
    }
}

#[test]
fn rescale_rounds_to_nearest() {
    let ms = Rational::new(1, 1000);
    let tb = Rational::new(1001, 30000);
    assert_eq!(rescale(1, tb, ms), 33);
    assert_eq!(rescale(2, tb, ms), 67);
    assert_eq!(rescale(-2, tb, ms), -67);
    assert_eq!(rescale(30000, tb, Rational::new(1, 1)), 1001);
}

#[test]
fn sample_grid_at_ntsc_rates() {
    let fps = Rational::new(30000, 1001);
    assert_eq!(samples_at_frame(1, fps, 48000), 1601);
    assert_eq!(samples_at_frame(5, fps, 48000), 8008);
    // One hour of 29.97: 107892 frames is exactly 172_972_800 samples... within one sample.
    let s = samples_at_frame(107_892, fps, 48000);
    assert_eq!(s, 107_892 * 48000 * 1001 / 30000);
    assert_eq!(frames_covering(8008, fps, 48000), 5);
    assert_eq!(frames_covering(8009, fps, 48000), 6);
}

proptest! {
    #[test]
    fn frames_covering_is_the_least_cover(samples in 0i64..10_000_000_000, which in 0usize..6) {
        let rates = [(25, 1), (30, 1), (30000, 1001), (24000, 1001), (50, 1), (60000, 1001)];
        let fps = Rational::new(rates[which].0, rates[which].1);
        let f = frames_covering(samples, fps, 48000);
        prop_assert!(samples_at_frame(f, fps, 48000) >= samples);
        prop_assert!(f == 0 || samples_at_frame(f - 1, fps, 48000) < samples);
    }

    #[test]
    fn audio_grid_never_drifts(frames in 0i64..100_000_000) {
        // Summing per-frame sample counts equals the closed form: no accumulated error.
        let fps = Rational::new(30000, 1001);
        let a = samples_at_frame(frames, fps, 48000);
        let exact = frames as i128 * 48000 * 1001;
        prop_assert!((a as i128 * 30000 - exact).abs() < 30000);
    }

    #[test]
    fn rescale_round_trip_within_half_tick(v in -1_000_000_000i64..1_000_000_000) {
        let a = Rational::new(1, 90000);
        let b = Rational::new(1, 1000);
        let there = rescale(v, a, b);
        let back = rescale(there, b, a);
        prop_assert!((back - v).abs() <= 45);
    }

    #[test]
    fn display_then_parse_is_identity(us in 0i64..1_000_000_000_000) {
        let m = Micros(us);
        prop_assert_eq!(m.to_string().parse::<Micros>().unwrap(), m);
    }
}
