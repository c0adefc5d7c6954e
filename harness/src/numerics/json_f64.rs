//! JSON for figures that may be infinite or NaN: serde_json writes a
//! non-finite `f64` as `null` and cannot read `null` back as an `f64`, so a
//! results file holding a mismatch at `-inf` could not be read by `merge`,
//! `gate`, `report` or `--resume`. With `#[serde(with = "json_f64")]` a
//! finite value stays a JSON number (bit for bit), a non-finite one becomes
//! the string `"inf"`, `"-inf"` or `"nan"`, and reading also accepts `null`
//! (as NaN, what older files hold).

use serde::{Deserializer, Serializer};

/// Writes `v` as a number, or `"inf"` / `"-inf"` / `"nan"`.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else if v.is_nan() {
        s.serialize_str("nan")
    } else if *v > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_str("-inf")
    }
}

struct FigureVisitor;

impl serde::de::Visitor<'_> for FigureVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number, \"inf\", \"-inf\", \"nan\" or null")
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "inf" | "+inf" | "Infinity" => Ok(f64::INFINITY),
            "-inf" | "-Infinity" => Ok(f64::NEG_INFINITY),
            "nan" | "NaN" => Ok(f64::NAN),
            _ => Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)),
        }
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
}

/// Reads a number, one of the strings [`serialize`] writes, or `null`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(FigureVisitor)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Serialize, serde::Deserialize, Debug)]
    struct T {
        #[serde(with = "super")]
        v: f64,
    }

    #[test]
    fn non_finite_round_trips_and_null_reads_as_nan() {
        for v in [
            1.5,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            5.960464477539064e-8,
        ] {
            let s = serde_json::to_string(&T { v }).unwrap();
            let back: T = serde_json::from_str(&s).unwrap();
            assert_eq!(back.v.to_bits(), v.to_bits(), "{s}");
        }
        let s = serde_json::to_string(&T { v: f64::NAN }).unwrap();
        assert_eq!(s, r#"{"v":"nan"}"#);
        assert!(serde_json::from_str::<T>(&s).unwrap().v.is_nan());
        assert!(
            serde_json::from_str::<T>(r#"{"v":null}"#)
                .unwrap()
                .v
                .is_nan()
        );
        assert!(serde_json::from_str::<T>(r#"{"v":"x"}"#).is_err());
    }
}
