"""A register-blocked multiply-add tile for numba loops, written in LLVM IR.

numba vectorises a loop only when it can prove the loop long and free of aliasing, and never
keeps an accumulator in a vector register across a loop nest. A grouped convolution with 8
channels per group needs exactly that: an output block of 8 channels (one 256-bit register of
float32, 4 lanes of float64) summed over every (tap, input channel) term, for several output
pixels at once so that each weight vector loaded feeds several multiply-adds. `tile` is that
micro-kernel, emitted as IR by a numba intrinsic and inlined where it is called:

    acc[p, :] = sum over i < n_outer, j < n_inner of
                x[bases[p] + x_outer[i] + j * x_step]  *  w[w_base + w_outer[i] + j * w_step : + L]

for p < ROWS (output pixels, or input channels for the kernel gradient) and L = acc.shape[1]
lanes. The ROWS accumulators live in registers for the whole sum (allocas that LLVM's mem2reg
promotes); each term is one broadcast load of x, one vector load of w shared by the ROWS rows,
and one fused multiply-add per row. The caller keeps every index in bounds: nothing is checked.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

ROWS = 8  # rows per tile: 8 accumulators + 1 weight vector + a broadcast fit AVX2's 16 registers
VECTOR_BYTES = 32  # one AVX2 register; AVX-512 hosts run it as well (LLVM keeps 256-bit vectors there)


def lanes(itemsize: int) -> int:
    return VECTOR_BYTES // itemsize


def _tile_of(rows: int):
    """The intrinsic for tiles of `rows` rows (a compile-time constant: one accumulator each)."""

    def tile(typingctx, acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base):
        signature = types.void(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
        return signature, _codegen(rows)

    return intrinsic(tile)


def _codegen(rows: int):

    def codegen(context, builder, sig, args):
        acc_a, x_a, bases_a, x_outer_a, w_outer_a, n_outer_a, n_inner_a, x_step_a, w_a, w_step_a, w_base_a = args
        element = context.get_data_type(sig.args[0].dtype)
        width = lanes(context.get_abi_sizeof(element))
        vector = ir.VectorType(element, width)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        suffix = "f32" if element == ir.FloatType() else "f64"
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{width}{suffix}"
        )

        def data(position, value):
            return cgutils.create_struct_proxy(sig.args[position])(context, builder, value=value).data

        acc_p, x_p, w_p = data(0, acc_a), data(1, x_a), data(8, w_a)
        bases_p, x_outer_p, w_outer_p = data(2, bases_a), data(3, x_outer_a), data(4, w_outer_a)
        sums = [cgutils.alloca_once_value(builder, ir.Constant(vector, None)) for _ in range(rows)]
        row_bases = [builder.load(builder.gep(bases_p, [ir.Constant(i64, p)])) for p in range(rows)]
        broadcast = ir.Constant(ir.VectorType(i32, width), [0] * width)
        undefined = ir.Constant(vector, ir.Undefined)
        with cgutils.for_range(builder, n_outer_a) as outer:
            x_offset = builder.load(builder.gep(x_outer_p, [outer.index]))
            w_offset = builder.add(w_base_a, builder.load(builder.gep(w_outer_p, [outer.index])))
            with cgutils.for_range(builder, n_inner_a) as inner:
                w_at = builder.add(w_offset, builder.mul(inner.index, w_step_a))
                weights = builder.load(builder.bitcast(builder.gep(w_p, [w_at]), vector.as_pointer()), align=1)
                x_at = builder.add(x_offset, builder.mul(inner.index, x_step_a))
                for p in range(rows):
                    value = builder.load(builder.gep(x_p, [builder.add(row_bases[p], x_at)]))
                    spread = builder.shuffle_vector(
                        builder.insert_element(undefined, value, ir.Constant(i32, 0)), undefined, broadcast
                    )
                    builder.store(builder.call(fma, [spread, weights, builder.load(sums[p])]), sums[p])
        for p in range(rows):
            target = builder.bitcast(builder.gep(acc_p, [ir.Constant(i64, p * width)]), vector.as_pointer())
            builder.store(builder.load(sums[p]), target, align=1)
        return context.get_dummy_value()

    return codegen


tile = _tile_of(ROWS)  # acc (ROWS, L) C-contiguous, x and w flat arrays; see the module docstring
tile_one = _tile_of(1)  # one row: a border pixel, computed alone
