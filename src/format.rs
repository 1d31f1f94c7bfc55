//! How numbers are written for people: counts with thousands separators,
//! probabilities to three significant digits (log lines, tables, the report).

/// A count with thousands separators: 28881628 -> "28,881,628".
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A probability to three significant digits: 0.0576, 0.153, 0.999; a
/// risk that would round to 1 shows as "> 0.999", never "1.000".
pub fn sig3(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{v:.digits$}");
    if v < 1.0 && text.parse::<f64>().is_ok_and(|r| r >= 1.0) {
        "> 0.999".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risks_show_three_significant_digits() {
        assert_eq!(sig3(0.0576123), "0.0576");
        assert_eq!(sig3(0.15291), "0.153");
        assert_eq!(sig3(0.000123456), "0.000123");
        assert_eq!(sig3(0.9991), "0.999");
        assert_eq!(sig3(0.99991), "> 0.999");
        assert_eq!(sig3(0.0), "0");
    }
}
