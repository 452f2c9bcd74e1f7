//! Java's `String.hashCode()`, which the old system used to turn identity
//! strings (pod name, namespace, image, container name) into numbers.
//!
//! Hand-written because it is three lines and must match Java bit for bit;
//! no crate offers exactly this.

/// Java's `String.hashCode()`: `s[0]*31^(n-1) + … + s[n-1]` over the string's
/// UTF-16 code units, in wrapping 32-bit arithmetic. `""` hashes to 0.
///
/// ```
/// use cad_core::features::java_string_hash;
/// assert_eq!(java_string_hash("hello"), 99162322);
/// ```
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(i32::from(unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_values_known_from_java() {
        // Values Java's "…".hashCode() prints.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99162322);
        // Overflows 32 bits: wraps to a negative number.
        assert_eq!(java_string_hash("Hello, World!"), 1498789909);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn matches_the_old_arff_files() {
        // The containerName column of container-metrics-all.arff holds these
        // numbers for the containers named like their class.
        assert_eq!(java_string_hash("mysql"), 104382626);
        assert_eq!(java_string_hash("nginx"), 104760218);
        assert_eq!(java_string_hash("mongodb"), 1236254834);
        assert_eq!(java_string_hash("apache"), -1411517106);
        // …and its namespace column holds this for 358 rows.
        assert_eq!(java_string_hash("prometheus"), 707889386);
    }

    #[test]
    fn hashes_utf16_code_units_not_bytes_or_chars() {
        // U+1F600 is the surrogate pair D83D DE00 in UTF-16:
        // 0xD83D * 31 + 0xDE00 = 55357 * 31 + 56832 = 1772899.
        assert_eq!(java_string_hash("😀"), 1772899);
        // 'a' then the pair then 'b':
        // ((97*31 + 55357)*31 + 56832)*31 + 98
        //   = (58364*31 + 56832)*31 + 98 = 1866116*31 + 98 = 57849694.
        assert_eq!(java_string_hash("a😀b"), 57849694);
        // One code unit each (BMP): 0x65E5 * 31 + 0x672C = 26085*31 + 26412.
        assert_eq!(java_string_hash("日本"), 26085 * 31 + 26412);
        // 'é' is one UTF-16 unit (0xE9) but two UTF-8 bytes.
        assert_eq!(java_string_hash("é"), 0xE9);
    }
}
