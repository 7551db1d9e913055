/**
 * msgpackr decodes strings with its optional native addon (msgpackr-extract)
 * unless MSGPACKR_NATIVE_ACCELERATION_DISABLED is 'true' when msgpackr is
 * first evaluated. That addon's module setup clears and refills one table
 * shared by every thread of the process (msgpackr-extract 3.0.7,
 * setupTokenTable), and each scoring worker sets it up again as it starts:
 * a thread decoding meanwhile can read a cleared table and misplace every
 * string after it. Seen once in CI: a model whose checksum matched decoded,
 * in one of two workers starting together, without its calibration's `unit`.
 * syswarden's msgpack is numbers and typed arrays, where the addon gains
 * nothing, so every thread decodes in JavaScript.
 *
 * Imported (for this effect alone) by ./msgpack.ts before msgpackr itself,
 * so that the variable is set in each thread (a worker's process.env is its
 * own copy) before msgpackr reads it.
 */
process.env['MSGPACKR_NATIVE_ACCELERATION_DISABLED'] = 'true';
