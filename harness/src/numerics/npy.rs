//! The one `.npy` writer (format 1.0, little-endian, C order): what `repro
//! --dump` and the model cases' debug dumps write, so anyone can load the
//! arrays with `numpy.load`.

/// The header of an `.npy` file holding an array of numpy type `descr`
/// (`<f8`, `|u1`, ...) and `shape`: magic, version, length and the
/// dictionary, padded with spaces so the data starts at a multiple of 64.
pub fn header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // magic (6) + version (2) + length (2) + dict + '\n', a multiple of 64.
    while !(10 + dict.len() + 1).is_multiple_of(64) {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// A whole `.npy` file: [`header`] followed by `data`, the array's
/// little-endian bytes in C order.
pub fn bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = header(descr, shape);
    out.extend_from_slice(data);
    out
}

/// f64 values as the little-endian bytes of a `<f8` array.
pub fn f64_data<'a>(values: impl IntoIterator<Item = &'a f64>) -> Vec<u8> {
    values.into_iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_shapes_and_alignment() {
        for (shape, text) in [
            (&[][..], "'shape': ()"),
            (&[5][..], "'shape': (5,)"),
            (&[2, 3][..], "'shape': (2, 3)"),
        ] {
            let h = super::header("<f8", shape);
            assert_eq!(h.len() % 64, 0);
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
            assert!(std::str::from_utf8(&h[10..]).unwrap().contains(text));
            assert_eq!(h.last(), Some(&b'\n'));
        }
    }
}
