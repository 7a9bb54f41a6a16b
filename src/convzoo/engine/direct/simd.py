"""Register-blocked multiply-add tiles for numba loops, written in LLVM IR.

numba vectorises a loop only when it can prove the loop long and free of aliasing, and never
keeps an accumulator in a vector register across a loop nest. A grouped convolution with 8
channels per group needs exactly that: an output block of 8 channels (one 256-bit register of
float32, 4 lanes of float64) summed over every (tap, input channel) term, for several output
pixels at once so that each weight vector loaded feeds several multiply-adds. `tile` is that
micro-kernel, emitted as IR by a numba intrinsic and inlined where it is called:

    acc[p, :] = sum over i < n_outer, j < n_inner of
                x[bases[p] + x_outer[i] + j * x_step]  *  w[w_base + w_outer[i] + j * w_step : + L]

for p < rows (output pixels, or input channels for the kernel gradient) and L lanes: `vectors`
vectors of `vector_bytes` each. The tiles of `_to_out_of` store row p at out[out_base + p *
out_step :] instead of acc[p] (overwriting or adding), and read x in one of three ways: one
value broadcast (as above), a whole vector multiplied lane by lane (depthwise layers), or S
consecutive values repeated across the vector (S groups packed into one vector; the store
puts the interleaved lanes back in order).

The rows x vectors accumulators live in registers for the whole sum (allocas that LLVM's
mem2reg promotes); each term is one load of x per row, the vectors of w shared by the rows,
and one fused multiply-add per accumulator. The caller keeps every index in bounds: nothing
is checked.

The tiles, sized to the register file (accumulators + weight vectors + one broadcast):
- `tile`, `tile_one`: 8 rows x one 256-bit vector (8 float32), for groups of few channels;
- `dense_long`, `dense_short`, `dense_one`: 2 vectors of the widest register the host has
  (AVX-512: 2 x 16 float32, with 14 or 8 rows: 28 + 2 + 1 of 32 registers; AVX2: 2 x 8, 6 or
  4 rows: 12 + 2 + 1 of 16), and a one-row tile, for dense layers (`dense.py`); `narrow_*`:
  the same with one vector, for layers with no more output channels than that;
  `dense_out_tiles` and `narrow_out_tiles` store straight into the output,
  `dense_adding_tiles` and `narrow_adding_tiles` add into it (kernel-gradient partial sums);
  `transposed_tiles` (4 and the short tile's rows) store each column's rows as one vector,
  zipped in registers (`dense.pixel_forward`, whose rows are channels and columns pixels);
- `packed_tiles` (and `packed_adding_tiles`, which add into out): the dense rows x one wide
  vector of S = 1, 2 or 4 packed groups (`grouped.py`);
- `depthwise_long`, `depthwise_short`, `depthwise_one` (lanewise): 12, 4 or 1 rows x 2 wide
  vectors (AVX-512: 24 + 2 of 32 registers; AVX2: 6 or 2 rows), and `depthwise_taps`, 3 rows
  for the kernel gradient (`depthwise.py`); `depthwise_windows`: the kernel gradient of 1, 2
  or 3 kernel rows x 3 taps along a row of stride 1, one vector of channels, with a sliding
  window of input vectors in registers (`_window_of`); `depthwise_sliding`: the forward of 1, 2
  or 3 kernel rows x 3 taps along such a row, 1 or 2 vectors of channels, the weights in
  registers and each input column added into the sums of the outputs that read it
  (`_sliding_of`).

`transpose_block` transposes an L x L block through the same zips (the channel-major row
cache of the pixel tiles, `loops.copy_transposed`).
"""

from __future__ import annotations

import os

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

ROWS = 8  # rows per tile: 8 accumulators + 1 weight vector + a broadcast fit AVX2's 16 registers
VECTOR_BYTES = 32  # one AVX2 register; AVX-512 hosts run it as well (LLVM keeps 256-bit vectors there)


def _wide_bytes() -> int:
    """64 where numba compiles for a host with AVX-512 (its default), else 32 (AVX2)."""
    compiling_for_host = os.environ.get("NUMBA_CPU_NAME", "host") == "host"
    return 64 if compiling_for_host and binding.get_host_cpu_features().get("avx512f", False) else 32


WIDE_BYTES = _wide_bytes()
DENSE_VECTORS = 2  # weight vectors per term in a dense tile
DENSE_ROWS = (14, 8) if WIDE_BYTES == 64 else (6, 4)  # the long and the short dense tile
PACKED_SPREADS = (1, 2, 4)  # groups per vector in grouped.packed_forward
DEPTHWISE_VECTORS = 2  # channel vectors per depthwise tile
DEPTHWISE_ROWS = (12, 4) if WIDE_BYTES == 64 else (6, 2)  # 24 + 2 of 32 registers; AVX2: 12 + 2 of 16


def lanes(itemsize: int) -> int:
    return VECTOR_BYTES // itemsize


def dense_lanes(itemsize: int, out_channels: int) -> int:
    """Output channels per dense tile: DENSE_VECTORS wide registers, or one where that holds
    every output channel (a 16-channel float32 layer would leave half of two vectors empty)."""
    one = WIDE_BYTES // itemsize
    return one if out_channels <= one else DENSE_VECTORS * one


def _tile_of(rows: int, vectors: int = 1, vector_bytes: int = VECTOR_BYTES):
    """The intrinsic for tiles of rows x vectors accumulators (compile-time constants)."""

    def tile(typingctx, acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base):
        signature = types.void(acc, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
        return signature, _codegen(rows, vectors, vector_bytes, spread=1, to_out=False)

    return intrinsic(tile)


def _to_out_of(rows: int, vectors: int, spread: int | None, vector_bytes: int = WIDE_BYTES, accumulate=False):
    """The intrinsic for tiles that store row p at out[out_base + p * out_step :] and read
    `spread` consecutive values of x per term and vector: None is a whole vector (lanewise, for
    depthwise layers); S repeats S values across the vector (S packed groups, `grouped.py`).
    `accumulate`: add row p to what out holds there instead of overwriting it."""

    def tile(
        typingctx, out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base
    ):
        arguments = (out, out_base, out_step, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base)
        return types.void(*arguments), _codegen(rows, vectors, vector_bytes, spread, True, accumulate)

    return intrinsic(tile)


def _transposed_of(rows: int, vector_bytes: int = WIDE_BYTES):
    """The intrinsic for tiles of `rows` rows x DENSE_VECTORS vectors that store transposed:
    column q < `columns` (of the tile's DENSE_VECTORS * L) as `rows` consecutive values at
    out[out_base + q * out_step :] (dense.pixel_forward: its rows are output channels, its
    columns output pixels of a channels-last row). `rows` is a power of 2, at most L."""

    def tile(
        typingctx, out, out_base, out_step, columns, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step,
        w_base,
    ):  # fmt: skip
        arguments = (
            out, out_base, out_step, columns, x, bases, x_outer, w_outer, n_outer, n_inner, x_step, w, w_step, w_base
        )  # fmt: skip
        return types.void(*arguments), _codegen(rows, DENSE_VECTORS, vector_bytes, 1, True, transposed=True)

    return intrinsic(tile)


def _zipped(builder, rows):
    """rows (R vectors of L lanes, R a power of 2 at most L) transposed by log2(R) rounds of
    zips (each pair of rows i and i + R/2 interleaved lane by lane, low halves then high; one
    two-source permute each on AVX-512): R vectors, vector k holding columns k * L/R to
    (k + 1) * L/R - 1, each as R consecutive lanes (row 0 first)."""
    count, width = len(rows), rows[0].type.count
    i32 = ir.IntType(32)
    low = ir.Constant(ir.VectorType(i32, width), [lane // 2 + width * (lane % 2) for lane in range(width)])
    high = ir.Constant(
        ir.VectorType(i32, width), [width // 2 + lane // 2 + width * (lane % 2) for lane in range(width)]
    )
    for _ in range(count.bit_length() - 1):
        zipped = []
        for i in range(count // 2):
            a, b = rows[i], rows[i + count // 2]
            zipped += [builder.shuffle_vector(a, b, low), builder.shuffle_vector(a, b, high)]
        rows = zipped
    return rows


def _fma(builder, vector: ir.VectorType):
    """llvm.fma over `vector` (float32 or float64 lanes): one fused multiply-add per lane."""
    suffix = "f32" if vector.element == ir.FloatType() else "f64"
    function = ir.FunctionType(vector, [vector] * 3)
    return cgutils.get_or_insert_function(builder.module, function, f"llvm.fma.v{vector.count}{suffix}")


def _lanewise(context, builder, sig, args, vector_bytes: int, arrays: tuple[int, ...]):
    """What a lanewise tile's codegen starts from: the vector of `vector_bytes` over the dtype of
    the signature's first array, its lanes, llvm.fma over it, and the data pointers of the array
    arguments at positions `arrays`."""
    element = context.get_data_type(sig.args[0].dtype)
    width = vector_bytes // context.get_abi_sizeof(element)
    vector = ir.VectorType(element, width)
    pointers = [
        cgutils.create_struct_proxy(sig.args[position])(context, builder, value=args[position]).data
        for position in arrays
    ]
    return vector, width, _fma(builder, vector), pointers


def _codegen(
    rows: int, vectors: int, vector_bytes: int, spread: int | None, to_out: bool, accumulate=False, transposed=False
):

    def codegen(context, builder, sig, args):
        columns_a = None
        if transposed:
            acc_a, out_base_a, out_step_a, columns_a, *args = args
        elif to_out:
            acc_a, out_base_a, out_step_a, *args = args
        else:
            (acc_a, *args), out_base_a, out_step_a = args, None, None
        x_a, bases_a, x_outer_a, w_outer_a, n_outer_a, n_inner_a, x_step_a, w_a, w_step_a, w_base_a = args
        first = 4 if transposed else 3 if to_out else 1  # the position of x in the signature
        element = context.get_data_type(sig.args[0].dtype)
        width = vector_bytes // context.get_abi_sizeof(element)
        vector = ir.VectorType(element, width)
        i32, i64 = ir.IntType(32), ir.IntType(64)
        fma = _fma(builder, vector)

        def data(position, value):
            return cgutils.create_struct_proxy(sig.args[position])(context, builder, value=value).data

        acc_p, x_p, w_p = data(0, acc_a), data(first, x_a), data(first + 7, w_a)
        bases_p, x_outer_p, w_outer_p = data(first + 1, bases_a), data(first + 2, x_outer_a), data(first + 3, w_outer_a)

        def vector_at(pointer, index, kind=vector):
            return builder.load(builder.bitcast(builder.gep(pointer, [index]), kind.as_pointer()), align=1)

        def lanes_from(index, v):
            return builder.add(index, ir.Constant(i64, v * width))

        def mask(lanes):
            return ir.Constant(ir.VectorType(i32, width), lanes)

        # x read per term and vector: x[at] in every lane (spread 1), x[at + v*L : + L] (None), or
        # x[at + v*S : + S] repeated (spread S): lane f*S + g holds x[at + g]
        reads = width if spread is None else spread  # values of x per term and vector
        piece = vector if reads in (1, width) else ir.VectorType(element, reads)
        repeat = mask([lane % reads for lane in range(width)])
        # ... so on the way out, lane g*(L/reads) + f takes lane f*reads + g: the natural order
        natural = mask([(lane % (width // reads)) * reads + lane // (width // reads) for lane in range(width)])
        zero = ir.Constant(vector, None)
        sums = [[cgutils.alloca_once_value(builder, zero) for _ in range(vectors)] for _ in range(rows)]
        row_bases = [builder.load(builder.gep(bases_p, [ir.Constant(i64, p)])) for p in range(rows)]
        undefined = ir.Constant(vector, ir.Undefined)
        with cgutils.for_range(builder, n_outer_a) as outer:
            x_offset = builder.load(builder.gep(x_outer_p, [outer.index]))
            w_offset = builder.add(w_base_a, builder.load(builder.gep(w_outer_p, [outer.index])))
            with cgutils.for_range(builder, n_inner_a) as inner:
                w_at = builder.add(w_offset, builder.mul(inner.index, w_step_a))
                weights = [vector_at(w_p, lanes_from(w_at, v)) for v in range(vectors)]
                x_at = builder.add(x_offset, builder.mul(inner.index, x_step_a))
                for p in range(rows):
                    at = builder.add(row_bases[p], x_at)
                    if reads == 1:  # one value to every lane, shared by the vectors
                        value = builder.load(builder.gep(x_p, [at]))
                        one = builder.insert_element(undefined, value, ir.Constant(i32, 0))
                        values = [builder.shuffle_vector(one, undefined, mask([0] * width))] * vectors
                    elif reads == width:
                        values = [vector_at(x_p, lanes_from(at, v)) for v in range(vectors)]
                    else:
                        values = []
                        for v in range(vectors):
                            part = vector_at(x_p, builder.add(at, ir.Constant(i64, v * reads)), piece)
                            values.append(builder.shuffle_vector(part, ir.Constant(piece, ir.Undefined), repeat))
                    for v in range(vectors):
                        builder.store(builder.call(fma, [values[v], weights[v], builder.load(sums[p][v])]), sums[p][v])
        if transposed:  # column q's `rows` values are a piece of a zipped vector
            piece = ir.VectorType(element, rows)
            for v in range(vectors):
                zipped = _zipped(builder, [builder.load(sums[p][v]) for p in range(rows)])
                for k, total in enumerate(zipped):
                    for c in range(width // rows):
                        q = v * width + k * (width // rows) + c
                        inside = builder.icmp_signed("<", ir.Constant(i64, q), columns_a)
                        with cgutils.if_likely(builder, inside):
                            values = total
                            if rows < width:
                                lanes = ir.Constant(ir.VectorType(i32, rows), [c * rows + r for r in range(rows)])
                                values = builder.shuffle_vector(total, undefined, lanes)
                            at = builder.add(out_base_a, builder.mul(ir.Constant(i64, q), out_step_a))
                            builder.store(
                                values, builder.bitcast(builder.gep(acc_p, [at]), piece.as_pointer()), align=1
                            )
            return context.get_dummy_value()
        for p in range(rows):
            if to_out:
                start = builder.add(out_base_a, builder.mul(ir.Constant(i64, p), out_step_a))
            else:
                start = ir.Constant(i64, p * vectors * width)
            for v in range(vectors):
                total = builder.load(sums[p][v])
                if 1 < reads < width:
                    total = builder.shuffle_vector(total, undefined, natural)
                target = builder.bitcast(builder.gep(acc_p, [lanes_from(start, v)]), vector.as_pointer())
                if accumulate:
                    total = builder.fadd(builder.load(target, align=1), total)
                builder.store(total, target, align=1)
        return context.get_dummy_value()

    return codegen


@intrinsic
def prefetch(typingctx, array, index):
    """Ask for the cache line holding array[index] ahead of its use (llvm.prefetch: a read, kept
    in every cache level); no fault if the index is out of bounds."""

    def codegen(context, builder, sig, args):
        data = cgutils.create_struct_proxy(sig.args[0])(context, builder, value=args[0]).data
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        address = builder.bitcast(builder.gep(data, [args[1]]), i8p)
        builder.call(function, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


tile = _tile_of(ROWS)  # acc (ROWS, L) C-contiguous, x and w flat arrays; see the module docstring
tile_one = _tile_of(1)  # one row: a border pixel, computed alone
# dense: acc (DENSE_ROWS[0], dense_lanes) C-contiguous; the long, the short and the one-row tile,
# each with DENSE_VECTORS vectors or (narrow) one
dense_long, dense_short, dense_one = (_tile_of(rows, DENSE_VECTORS, WIDE_BYTES) for rows in (*DENSE_ROWS, 1))
narrow_long, narrow_short, narrow_one = (_tile_of(rows, 1, WIDE_BYTES) for rows in (*DENSE_ROWS, 1))
dense_four = _tile_of(4, DENSE_VECTORS, WIDE_BYTES)  # dense.pixel_forward's tile for 2 to 4 output channels
# dense.pixel_forward's tiles of 4 and of the short tile's rows that store transposed into out
# (a power of 2 rows, at most a vector's lanes: the zips of `_zipped`)
TRANSPOSED_ROWS = (4, DENSE_ROWS[1])
transposed_tiles = tuple(_transposed_of(rows) for rows in TRANSPOSED_ROWS)
# the same, storing row p at out[out_base + p * out_step :] (layers whose channels fill whole tiles)
dense_out_tiles = tuple(_to_out_of(rows, DENSE_VECTORS, 1) for rows in (*DENSE_ROWS, 1))
narrow_out_tiles = tuple(_to_out_of(rows, 1, 1) for rows in (*DENSE_ROWS, 1))
# ... and adding into out (the kernel gradient's partial sums)
dense_adding_tiles = tuple(_to_out_of(rows, DENSE_VECTORS, 1, accumulate=True) for rows in (*DENSE_ROWS, 1))
narrow_adding_tiles = tuple(_to_out_of(rows, 1, 1, accumulate=True) for rows in (*DENSE_ROWS, 1))
# depthwise (lanewise): rows x 2 wide vectors written to out[out_base + p * out_step :]; the long,
# the short and the one-row forward tile, and the 3-tap kernel-gradient tile
# packed groups: rows x one wide vector of S groups (L / S output channels each), for S = 1, 2, 4
# (`grouped.packed_forward`)
packed_tiles = tuple(tuple(_to_out_of(rows, 1, spread) for rows in (*DENSE_ROWS, 1)) for spread in PACKED_SPREADS)
packed_adding_tiles = tuple(  # the same, adding into out (the kernel gradient's partial sums)
    tuple(_to_out_of(rows, 1, spread, accumulate=True) for rows in (*DENSE_ROWS, 1)) for spread in PACKED_SPREADS
)
depthwise_long, depthwise_short, depthwise_one, depthwise_taps = (
    _to_out_of(rows, DEPTHWISE_VECTORS, None) for rows in (*DEPTHWISE_ROWS, 1, 3)
)


def _window_of(rows: int, taps: int, vector_bytes: int = WIDE_BYTES):
    """The intrinsic for a depthwise kernel gradient along output rows of stride 1 and dilation 1
    along them (`depthwise.window_kernel_grad`): for r < rows (kernel rows), t < taps, one vector
    of L lanes,

        sums[sums_base + (r * taps + t) * step :][:L] +=
            sum over o < columns of xz[r, o + t - lead] * g[g_base + o * step :][:L]

    where xz[r, j] = x[x_rows[r] + j * step :][:L] for 0 <= j < limit and zero elsewhere (the
    row's padding: `lead` <= taps - 1 zero columns before it, columns past `limit` after).
    Each input vector is loaded once: a window of the last taps - 1 columns of each row moves
    along it in registers, so a column costs 1 + rows loads for rows x taps multiply-adds
    (3 x 3: 4 loads, 9 FMAs in 9 independent chains; registers: 9 sums + 9 window + 1)."""

    def window(typingctx, sums, sums_base, x, x_rows, g, g_base, columns, step, lead, limit):
        def codegen(context, builder, sig, args):
            _, sums_base_a, _, _, _, g_base_a, columns_a, step_a, lead_a, limit_a = args
            vector, _, fma, (sums_p, x_p, x_rows_p, g_p) = _lanewise(
                context, builder, sig, args, vector_bytes, (0, 2, 3, 4)
            )

            def at(pointer, base, index):
                address = builder.gep(pointer, [builder.add(base, builder.mul(index, step_a))])
                return builder.bitcast(address, vector.as_pointer())

            row_bases = [builder.load(builder.gep(x_rows_p, [_i64(r)])) for r in range(rows)]
            zero = ir.Constant(vector, None)
            totals = [[cgutils.alloca_once_value(builder, zero) for _ in range(taps)] for _ in range(rows)]
            # the window before column 0: input columns t - lead, t < taps - 1, those inside loaded
            seen = [[cgutils.alloca_once_value(builder, zero) for _ in range(taps - 1)] for _ in range(rows)]
            for t in range(taps - 1):
                j = builder.sub(_i64(t), lead_a)
                inside = builder.and_(builder.icmp_signed(">=", j, _i64(0)), builder.icmp_signed("<", j, limit_a))
                with builder.if_then(inside):
                    for r in range(rows):
                        builder.store(builder.load(at(x_p, row_bases[r], j), align=1), seen[r][t])
            # columns whose newest input column (o + taps - 1 - lead) is inside the row: loaded; the rest: zero
            loaded = builder.sub(limit_a, builder.sub(_i64(taps - 1), lead_a))
            loaded = builder.select(builder.icmp_signed("<", loaded, columns_a), loaded, columns_a)
            loaded = builder.select(builder.icmp_signed("<", loaded, _i64(0)), _i64(0), loaded)

            def step_column(o, load_newest):
                gradient = builder.load(at(g_p, g_base_a, o), align=1)
                for r in range(rows):
                    if load_newest:
                        newest = at(x_p, row_bases[r], builder.add(o, builder.sub(_i64(taps - 1), lead_a)))
                        newest = builder.load(newest, align=1)
                    else:
                        newest = zero
                    values = [builder.load(slot) for slot in seen[r]] + [newest]
                    for t in range(taps):
                        total = totals[r][t]
                        builder.store(builder.call(fma, [values[t], gradient, builder.load(total)]), total)
                    for t in range(taps - 1):
                        builder.store(values[t + 1], seen[r][t])

            with cgutils.for_range(builder, loaded) as loop:
                step_column(loop.index, True)
            with cgutils.for_range_slice(builder, loaded, columns_a, _i64(1)) as (o, _):
                step_column(o, False)
            for r in range(rows):
                for t in range(taps):
                    target = at(sums_p, sums_base_a, _i64(r * taps + t))
                    total = builder.fadd(builder.load(target, align=1), builder.load(totals[r][t]))
                    builder.store(total, target, align=1)
            return context.get_dummy_value()

        return types.void(sums, sums_base, x, x_rows, g, g_base, columns, step, lead, limit), codegen

    return intrinsic(window)


# depthwise kernel gradients of 3 taps along rows of stride 1 (`depthwise.kernel_grad`): the
# window tiles of 1, 2 and 3 kernel rows
WINDOW_TAPS = 3
depthwise_windows = tuple(_window_of(rows, WINDOW_TAPS) for rows in (1, 2, 3))


def _sliding_of(rows: int, vectors: int, taps: int = 3, vector_bytes: int = WIDE_BYTES):
    """The intrinsic for a depthwise forward along output rows of stride 1 and dilation 1 along
    them (`depthwise.window_forward`): for o < columns, v < vectors (of L lanes each),

        out[out_base + o * step + v * L :][:L]  (= or, where `adding`, +=)
            sum over r < rows, t < taps of xz[r, o + t - lead, v] * w[w_base + (r * taps + t) * step + v * L :][:L]

    where xz[r, j, v] = x[x_rows[r] + j * step + v * L :][:L] for 0 <= j < limit and zero
    elsewhere (the row's padding, of any width). The weights stay in registers; each input
    vector is loaded once: column j, once loaded, adds into the sums of the taps outputs that
    read it (o = j + lead - t), so a column costs `rows` loads per vector and one store for
    rows x taps multiply-adds. The sums of out[o + 1 :], begun, move along with o.
    (2 vectors, 3 x 3: 18 weights + 6 sums + the loads, of 32 AVX-512 registers.)"""

    def sliding(typingctx, out, out_base, x, x_rows, w, w_base, columns, step, lead, limit, adding):
        def codegen(context, builder, sig, args):
            _, out_base_a, _, _, _, w_base_a, columns_a, step_a, lead_a, limit_a, adding_a = args
            vector, width, fma, (out_p, x_p, x_rows_p, w_p) = _lanewise(
                context, builder, sig, args, vector_bytes, (0, 2, 3, 4)
            )

            def at(pointer, base, index, v):
                offset = builder.add(builder.add(base, builder.mul(index, step_a)), _i64(v * width))
                return builder.bitcast(builder.gep(pointer, [offset]), vector.as_pointer())

            row_bases = [builder.load(builder.gep(x_rows_p, [_i64(r)])) for r in range(rows)]
            weights = [
                [
                    [builder.load(at(w_p, w_base_a, _i64(r * taps + t), v), align=1) for v in range(vectors)]
                    for t in range(taps)
                ]
                for r in range(rows)
            ]
            zero = ir.Constant(vector, None)
            # begun[k][v]: the sum of out[o + k] so far (the input columns before o + taps - 1 - lead)
            begun = [[cgutils.alloca_once_value(builder, zero) for _ in range(vectors)] for _ in range(taps - 1)]

            def step_column(o, load, store):
                # input column j = o + taps - 1 - lead: loaded (`load` True), zero (None), or loaded where inside
                j = builder.add(o, builder.sub(_i64(taps - 1), lead_a))
                sums = [[builder.load(slot) for slot in begun[k]] for k in range(taps - 1)] + [[zero] * vectors]
                if load is not None:
                    if load is True:
                        columns = [
                            [builder.load(at(x_p, row_bases[r], j, v), align=1) for v in range(vectors)]
                            for r in range(rows)
                        ]
                    else:
                        inside = builder.and_(
                            builder.icmp_signed(">=", j, _i64(0)), builder.icmp_signed("<", j, limit_a)
                        )
                        columns = []
                        for r in range(rows):
                            loaded = []
                            for v in range(vectors):
                                slot = cgutils.alloca_once_value(builder, zero)
                                with builder.if_then(inside):
                                    builder.store(builder.load(at(x_p, row_bases[r], j, v), align=1), slot)
                                loaded.append(builder.load(slot))
                            columns.append(loaded)
                    for k in range(taps):  # out[o + k] reads column j through tap taps - 1 - k
                        for v in range(vectors):
                            for r in range(rows):
                                sums[k][v] = builder.call(fma, [columns[r][v], weights[r][taps - 1 - k][v], sums[k][v]])
                if store:
                    for v in range(vectors):
                        target = at(out_p, out_base_a, o, v)
                        total = sums[0][v]
                        with builder.if_else(builder.icmp_signed("!=", adding_a, _i64(0))) as (add, put):
                            with add:
                                builder.store(builder.fadd(builder.load(target, align=1), total), target, align=1)
                            with put:
                                builder.store(total, target, align=1)
                for k in range(taps - 1):
                    for v in range(vectors):
                        builder.store(sums[k + 1][v], begun[k][v])

            # outputs o < 0 that begin the sums of out[0 : taps - 1], then the columns: before the
            # row (j < 0, zeros), inside it (loaded), past it (zeros)
            for o in range(1 - taps, 0):
                step_column(_i64(o), False, False)

            def clamp(value):
                value = builder.select(builder.icmp_signed("<", value, _i64(0)), _i64(0), value)
                return builder.select(builder.icmp_signed("<", value, columns_a), value, columns_a)

            first = clamp(builder.sub(lead_a, _i64(taps - 1)))  # the first o whose column j is >= 0
            stop = clamp(builder.sub(limit_a, builder.sub(_i64(taps - 1), lead_a)))  # ... and < limit
            stop = builder.select(builder.icmp_signed("<", stop, first), first, stop)
            with cgutils.for_range(builder, first) as loop:
                step_column(loop.index, None, True)
            with cgutils.for_range_slice(builder, first, stop, _i64(1)) as (o, _):
                step_column(o, True, True)
            with cgutils.for_range_slice(builder, stop, columns_a, _i64(1)) as (o, _):
                step_column(o, None, True)
            return context.get_dummy_value()

        signature = types.void(out, out_base, x, x_rows, w, w_base, columns, step, lead, limit, adding)
        return signature, codegen

    return intrinsic(sliding)


# depthwise forwards of 3 taps along rows of stride 1: 1, 2 or 3 kernel rows x (on AVX-512) 2
# vectors of channels, or 1 (the last vector of an odd count; AVX2's 16 registers)
SLIDING_VECTORS = 2 if WIDE_BYTES == 64 else 1
depthwise_sliding = tuple(tuple(_sliding_of(rows, vectors) for rows in (1, 2, 3)) for vectors in (1, 2))


@intrinsic
def transpose_block(typingctx, out, out_base, out_step, x, x_base, x_step):
    """An L x L block transposed, L the lanes of the widest vector (loops.copy_transposed):

        out[out_base + k * out_step + i] = x[x_base + i * x_step + k]    for i, k < L

    L vector loads, L log2(L) two-source permutes (`_zipped`), L vector stores."""

    def codegen(context, builder, sig, args):
        out_a, out_base_a, out_step_a, x_a, x_base_a, x_step_a = args
        element = context.get_data_type(sig.args[0].dtype)
        width = WIDE_BYTES // context.get_abi_sizeof(element)
        pointer = ir.VectorType(element, width).as_pointer()
        out_p = cgutils.create_struct_proxy(sig.args[0])(context, builder, value=out_a).data
        x_p = cgutils.create_struct_proxy(sig.args[3])(context, builder, value=x_a).data

        def address(data, base, step, i):
            return builder.bitcast(builder.gep(data, [builder.add(base, builder.mul(step, _i64(i)))]), pointer)

        rows = [builder.load(address(x_p, x_base_a, x_step_a, i), align=1) for i in range(width)]
        for k, column in enumerate(_zipped(builder, rows)):
            builder.store(column, address(out_p, out_base_a, out_step_a, k), align=1)
        return context.get_dummy_value()

    return types.void(out, out_base, out_step, x, x_base, x_step), codegen


def sandwich_of(left, right=None, checked=False):
    """The intrinsic for L X R^T over a patch X of vectors, L (m x n) and R (k x l) constant
    (R = L if None): Winograd's transforms (`engine.winograd`), one wide vector of channels per
    call. With i < m, j < k:

        out[out_base + i * out_row + j * out_col : + L] = sum over a < n, b < l of L[i, a] R[j, b] *
                                                          x[x_base + a * x_row + b * x_col : + L]

    The entries are small integers: a 1 or -1 is an add or a subtraction, a 0 no operation, so
    the 6 x 6 input transform of F(4x4, 3x3) costs 2 x 6 x 22 vector operations; L = ((1,),)
    transforms along columns only (the 1-D form). `checked`: it also returns 0 times the sum of
    everything it stored: 0 where all of it is finite (and the sum does not overflow), NaN
    otherwise; a check for free while in registers."""
    lefts = tuple(tuple(float(entry) for entry in row) for row in left)
    rights = lefts if right is None else tuple(tuple(float(entry) for entry in row) for row in right)
    size_a, size_b = len(lefts[0]), len(rights[0])

    def sandwich(typingctx, out, out_base, out_row, out_col, x, x_base, x_row, x_col):
        result = out.dtype if checked else types.void
        signature = result(out, out_base, out_row, out_col, x, x_base, x_row, x_col)

        def codegen(context, builder, sig, args):
            out_a, out_base_a, out_row_a, out_col_a, x_a, x_base_a, x_row_a, x_col_a = args
            element = context.get_data_type(sig.args[0].dtype)
            width = WIDE_BYTES // context.get_abi_sizeof(element)
            vector = ir.VectorType(element, width)

            def data(position, value):
                return cgutils.create_struct_proxy(sig.args[position])(context, builder, value=value).data

            out_p, x_p = data(0, out_a), data(4, x_a)

            def address(pointer, base, row_step, col_step, i, j):
                at = builder.add(base, builder.add(builder.mul(row_step, _i64(i)), builder.mul(col_step, _i64(j))))
                return builder.bitcast(builder.gep(pointer, [at]), vector.as_pointer())

            def combine(coefficients, values):
                total = None
                for coefficient, value in zip(coefficients, values):
                    if coefficient == 0:
                        continue
                    if abs(coefficient) != 1:
                        value = builder.fmul(ir.Constant(vector, [abs(coefficient)] * width), value)
                    if total is None:
                        total = value if coefficient > 0 else builder.fneg(value)
                    else:
                        total = builder.fadd(total, value) if coefficient > 0 else builder.fsub(total, value)
                return total

            patch = [
                [builder.load(address(x_p, x_base_a, x_row_a, x_col_a, a, b), align=1) for b in range(size_b)]
                for a in range(size_a)
            ]
            half = [[combine(row, [patch[a][b] for a in range(size_a)]) for b in range(size_b)] for row in lefts]
            total = None
            for i, partial in enumerate(half):
                for j, row in enumerate(rights):
                    value = combine(row, partial)
                    builder.store(value, address(out_p, out_base_a, out_row_a, out_col_a, i, j), align=1)
                    total = value if total is None else builder.fadd(total, value)
            if not checked:
                return context.get_dummy_value()
            lanes = [builder.extract_element(total, ir.Constant(ir.IntType(32), lane)) for lane in range(width)]
            while len(lanes) > 1:  # a tree of adds, then times zero
                lanes = [builder.fadd(lanes[k], lanes[k + 1]) for k in range(0, len(lanes), 2)]
            return builder.fmul(lanes[0], ir.Constant(element, 0.0))

        return signature, codegen

    return intrinsic(sandwich)


def _i64(value: int) -> ir.Constant:
    return ir.Constant(ir.IntType(64), value)
