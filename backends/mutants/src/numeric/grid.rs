//! Spatial sampling faults: the two attribute mis-reads that move every
//! sample point, each a rewrite of the call followed by the reference
//! kernel.

use xpucert_abi::{AttrValue, BackendError};
use xpucert_reference_core::tensor::Tensor;

use super::io::Loaded;

/// GridSample's align_corners=1 ignored: the grid is read as if -1 and 1
/// were the outer edges of the corner pixels, which shifts and shrinks
/// every sample by up to half a pixel (what an exporter that drops the
/// attribute, or a kernel with the default hard-wired, does).
pub fn gridsample_align_corners_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    if l.int("align_corners", 0) == 1 {
        l.set("align_corners", AttrValue::Int(0));
    }
    l.reference()
}

/// RoiAlign's half_pixel transform (the default from opset 16) computed as
/// output_half_pixel: the ROI is not shifted by half a pixel, the
/// behaviour of RoiAlign-10 and of torchvision's `aligned=False`.
pub fn roialign_half_pixel_ignored(l: &mut Loaded<'_>) -> Result<Vec<Tensor>, BackendError> {
    let half_pixel = matches!(
        l.attr("coordinate_transformation_mode"),
        None | Some(AttrValue::String("half_pixel"))
    );
    if half_pixel {
        l.set(
            "coordinate_transformation_mode",
            AttrValue::String("output_half_pixel"),
        );
    }
    l.reference()
}
