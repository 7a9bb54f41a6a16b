"""The one general convolution, and its two gradients, on channels-last arrays.

Every kind of convolution in convzoo, and every gradient of every kind, is a call to one of
three functions here, with a `ConvGeometry` (strides, dilation, (before, after) padding, where
a negative entry crops) and a group count:

    conv(x, kernel)                 (N, *S, C_in) x (*K, C_in/G, C_out) -> (N, *O, C_out)
    conv_input_grad(grad, kernel)   (N, *O, C_out) x (*K, C_in/G, C_out) -> (N, *S, C_in)
    conv_kernel_grad(x, grad)       (N, *S, C_in) x (N, *O, C_out)       -> (*K, C_in/G, C_out)

Understanding the three. A convolution is one sum over a trilinear form,

    T(x, w, y) = sum over n, o, t, c, f of  xp[n, o*s + t*d, c] * w[t, c, f] * y[n, o, f]

(xp the padded x, c and f in the same group). Like a matrix product [m, j] [j, k] -> [m, k],
whose two gradients are again matrix products, each of the three arrays is the gradient of T
with respect to it given the other two: `conv` is dT/dy, `conv_input_grad` is dT/dx and
`conv_kernel_grad` is dT/dw. So the input gradient of a convolution is `conv_input_grad`,
which is also exactly a transpose convolution (`convzoo.conv_transpose` is this function), and
the gradients of a transpose convolution are `conv` and `conv_kernel_grad` with roles swapped.

This module is the seam behind which faster algorithms go: the ops call only these names.
"""

from __future__ import annotations

from .shift_add import conv, conv_input_grad, conv_kernel_grad

__all__ = ["conv", "conv_input_grad", "conv_kernel_grad"]
