"""The chest stage's numpy grid operations against scipy.ndimage, which they replace."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from respmon.chest.grid_ops import box3_sum, dilate, label4, label_sums

shapes = st.tuples(st.integers(1, 24), st.integers(1, 24))
masks = shapes.flatmap(lambda shape: arrays(bool, shape))


@settings(max_examples=200)
@given(masks, st.integers(0, 4))
def test_dilate_equals_scipy(mask, iterations):
    expected = ndimage.binary_dilation(mask, iterations=iterations) if iterations else mask
    assert np.array_equal(dilate(mask, iterations), expected)


@settings(max_examples=200)
@given(masks)
def test_labels_equal_scipy_in_number_and_order(mask):
    labels, count = label4(mask)
    expected, expected_count = ndimage.label(mask)
    assert count == expected_count
    assert np.array_equal(labels, expected)


@settings(max_examples=100)
@given(masks, st.integers(0, 2**31 - 1))
def test_label_sums_equal_scipy(mask, seed):
    values = np.random.default_rng(seed).normal(size=mask.shape)
    labels, count = label4(mask)
    if count:
        expected = ndimage.sum(values, labels, index=np.arange(1, count + 1))
        assert np.allclose(label_sums(values, labels, count), expected, rtol=1e-12, atol=1e-12)


@settings(max_examples=100)
@given(st.integers(1, 5), shapes, st.integers(0, 2**31 - 1))
def test_box_sum_is_nine_uniform_filters(frames, shape, seed):
    values = np.random.default_rng(seed).normal(size=(frames,) + shape)
    expected = 9.0 * ndimage.uniform_filter(values, size=(1, 3, 3), mode="constant")
    assert np.allclose(box3_sum(values), expected, rtol=1e-12, atol=1e-12)
    assert np.allclose(box3_sum(values[0]), 9.0 * ndimage.uniform_filter(values[0], size=3, mode="constant"),
                       rtol=1e-12, atol=1e-12)


def test_a_snake_is_one_component():
    """A component that winds through the whole grid (the worst case for a search that spreads)."""
    mask = np.zeros((21, 21), dtype=bool)
    mask[::2, :] = True
    mask[1::4, -1] = True
    mask[3::4, 0] = True
    labels, count = label4(mask)
    assert count == 1 and np.array_equal(labels > 0, mask)
