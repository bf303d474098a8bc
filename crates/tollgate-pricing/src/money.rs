//! Exact dollar amounts: an integer count of atto-dollars (10⁻¹⁸ USD).
//!
//! Prices are read from their decimal text, never multiplied as floats, so a per-token price
//! such as `2.5e-06` is exactly 2 500 000 000 000 atto-dollars and a million summed costs are
//! exactly a million times one cost. `u128` holds 3.4 × 10²⁰ dollars at this scale.

use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::Duration;

/// Atto-dollars in one dollar.
const SCALE: u128 = 1_000_000_000_000_000_000;
/// Decimal places of [`SCALE`].
const SCALE_DIGITS: i64 = 18;

/// An exact, non-negative amount of US dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(u128);

impl Usd {
    /// Nothing.
    pub const ZERO: Usd = Usd(0);

    /// The amount of `atto` × 10⁻¹⁸ dollars.
    pub const fn from_atto(atto: u128) -> Self {
        Usd(atto)
    }

    /// The amount in atto-dollars.
    pub const fn atto(self) -> u128 {
        self.0
    }

    /// Parses decimal text (`0.0000025`, `2.5e-06`, `3`, `"1E-7"`), rounding half up at the
    /// 18th decimal place. `None` for negative, malformed or too large values.
    pub fn parse(text: &str) -> Option<Usd> {
        let text = text.trim();
        let text = text.strip_prefix('+').unwrap_or(text);
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
            None => (text, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        // value = digits × 10^(exponent − frac_len); in atto: × 10^18 more.
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        let frac_len = i64::try_from(frac_part.len()).ok()?;
        let shift = exponent.checked_sub(frac_len)?.checked_add(SCALE_DIGITS)?;
        if digits.is_empty() {
            return Some(Usd::ZERO);
        }
        if shift >= 0 {
            let n: u128 = digits.parse().ok()?;
            let factor = 10u128.checked_pow(u32::try_from(shift).ok()?)?;
            return n.checked_mul(factor).map(Usd);
        }
        // Fewer than 18 decimals kept: drop the excess digits, rounding half up.
        let drop = usize::try_from(-shift).ok()?;
        if drop > digits.len() {
            return Some(Usd::ZERO);
        }
        let (kept, dropped) = digits.split_at(digits.len() - drop);
        let mut n: u128 = if kept.is_empty() {
            0
        } else {
            kept.parse().ok()?
        };
        if dropped.as_bytes().first().is_some_and(|&b| b >= b'5') {
            n = n.checked_add(1)?;
        }
        Some(Usd(n))
    }

    /// The exact decimal value of a float as Rust prints it (its shortest round-trip text), so
    /// `2.5e-6_f64` becomes exactly 2.5 micro-dollars. `None` for negative or non-finite input.
    pub fn from_f64(value: f64) -> Option<Usd> {
        if !value.is_finite() || value < 0.0 {
            return None;
        }
        Usd::parse(&format!("{value}"))
    }

    /// The nearest float, for headers and JSON fields that carry costs as numbers.
    pub fn to_f64(self) -> f64 {
        // Through the exact decimal text: one rounding instead of one per operation.
        self.to_string().parse().unwrap_or(f64::MAX)
    }

    /// Sum, or `None` past `u128`.
    pub fn checked_add(self, other: Usd) -> Option<Usd> {
        self.0.checked_add(other.0).map(Usd)
    }

    /// This price times a count, or `None` past `u128`.
    pub fn checked_mul(self, count: u64) -> Option<Usd> {
        self.0.checked_mul(u128::from(count)).map(Usd)
    }

    /// This per-second price over `duration`, rounded half up to the atto-dollar.
    pub fn checked_mul_duration(self, duration: Duration) -> Option<Usd> {
        let nanos = duration.as_nanos();
        let product = self.0.checked_mul(nanos)?;
        let whole = product / 1_000_000_000;
        let rest = product % 1_000_000_000;
        Some(Usd(whole + u128::from(rest >= 500_000_000)))
    }

    /// Rounded half up to whole cents (what an invoice shows).
    pub fn round_to_cents(self) -> Usd {
        let cent = SCALE / 100;
        let rest = self.0 % cent;
        let down = self.0 - rest;
        if rest >= cent / 2 {
            Usd(down.saturating_add(cent))
        } else {
            Usd(down)
        }
    }
}

impl Add for Usd {
    type Output = Usd;

    /// Saturates at `u128::MAX` atto-dollars (3.4 × 10²⁰ USD), which no real bill reaches.
    fn add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        *self = *self + other;
    }
}

impl std::iter::Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Add::add)
    }
}

impl fmt::Display for Usd {
    /// Exact decimal dollars without trailing zeros: `0.00011765`, `3`, `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.0 / SCALE;
        let frac = self.0 % SCALE;
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{frac:018}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_exponent_forms_exactly() {
        assert_eq!(Usd::parse("2.5e-06"), Some(Usd(2_500_000_000_000)));
        assert_eq!(Usd::parse("0.0000025"), Some(Usd(2_500_000_000_000)));
        assert_eq!(Usd::parse("2.5E-6"), Some(Usd(2_500_000_000_000)));
        assert_eq!(Usd::parse("3"), Some(Usd(3 * SCALE)));
        assert_eq!(Usd::parse("1e2"), Some(Usd(100 * SCALE)));
        assert_eq!(Usd::parse(".5"), Some(Usd(SCALE / 2)));
        assert_eq!(Usd::parse("0"), Some(Usd::ZERO));
        assert_eq!(Usd::parse("0.0"), Some(Usd::ZERO));
        assert_eq!(Usd::parse("3.75e-08"), Some(Usd(37_500_000_000)));
    }

    #[test]
    fn rounds_half_up_beyond_18_decimals() {
        assert_eq!(Usd::parse("1.5e-18"), Some(Usd(2)));
        assert_eq!(Usd::parse("1.4e-18"), Some(Usd(1)));
        assert_eq!(Usd::parse("4e-19"), Some(Usd(0)));
        assert_eq!(Usd::parse("1e-40"), Some(Usd(0)));
    }

    #[test]
    fn rejects_what_is_not_a_price() {
        for bad in ["", "-1", "abc", "1.2.3", "e5", "1e", "0x10", "1e400", "NaN"] {
            assert_eq!(Usd::parse(bad), None, "{bad}");
        }
        assert_eq!(Usd::from_f64(-1e-6), None);
        assert_eq!(Usd::from_f64(f64::NAN), None);
        assert_eq!(Usd::from_f64(f64::INFINITY), None);
    }

    #[test]
    fn floats_become_their_shortest_decimal() {
        assert_eq!(Usd::from_f64(2.5e-6), Usd::parse("0.0000025"));
        assert_eq!(Usd::from_f64(0.1), Some(Usd(SCALE / 10)));
        assert_eq!(Usd::from_f64(1.25e-7), Some(Usd(125_000_000_000)));
    }

    #[test]
    fn display_is_exact() {
        assert_eq!(Usd(117_650_000_000_000).to_string(), "0.00011765");
        assert_eq!(Usd(3 * SCALE).to_string(), "3");
        assert_eq!(Usd(1).to_string(), "0.000000000000000001");
        assert_eq!(Usd::ZERO.to_string(), "0");
        assert!((Usd(117_650_000_000_000).to_f64() - 0.00011765).abs() < 1e-18);
    }

    #[test]
    fn cents_round_half_up() {
        let p = |s: &str| Usd::parse(s).unwrap();
        assert_eq!(p("0.004999").round_to_cents(), p("0"));
        assert_eq!(p("0.005").round_to_cents(), p("0.01"));
        assert_eq!(p("1.234").round_to_cents(), p("1.23"));
    }

    #[test]
    fn per_second_prices_scale_with_the_duration() {
        let rate = Usd::parse("0.0001").unwrap();
        assert_eq!(
            rate.checked_mul_duration(Duration::from_millis(1500)),
            Usd::parse("0.00015")
        );
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        assert_eq!(Usd(u128::MAX).checked_mul(2), None);
        assert_eq!(Usd(u128::MAX).checked_add(Usd(1)), None);
        assert_eq!(Usd(u128::MAX) + Usd(1), Usd(u128::MAX));
    }
}
