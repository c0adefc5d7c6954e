//! Resize faults: the spec mis-read in the two ways that matter most in
//! practice, each a rewrite of the call followed by the reference kernel.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// half_pixel (the default transform) read as asymmetric: the output grid
/// is not shifted by half a pixel, as in TensorFlow 1's resize and early
/// exporters.
pub fn half_pixel_as_asymmetric(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let half_pixel = matches!(
        l.attr("coordinate_transformation_mode"),
        None | Some(AttrValue::String("half_pixel"))
    );
    if half_pixel {
        l.set(
            "coordinate_transformation_mode",
            AttrValue::String("asymmetric"),
        );
    }
    l.reference()
}

/// nearest with round_prefer_floor (the default nearest_mode) computed as
/// floor: every coordinate whose fraction is above one half picks the
/// sample below it.
pub fn nearest_floor_for_round(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let nearest = matches!(l.attr("mode"), None | Some(AttrValue::String("nearest")));
    let round = matches!(
        l.attr("nearest_mode"),
        None | Some(AttrValue::String("round_prefer_floor"))
    );
    if nearest && round {
        l.set("nearest_mode", AttrValue::String("floor"));
    }
    l.reference()
}
