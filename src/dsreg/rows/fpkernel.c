/* The byte-string part of row fingerprints (scheme rowfp-2), natively: the same values as
 * fingerprint.py's `_byte_segments`, which stays the reference and the fallback when this
 * extension is not built. Strings, binaries and lists of numbers dominate a commit's
 * hashing; numpy needs a gather, a cumulative sum and several passes per word, where this
 * makes one pass, with the GIL released so the commit's other threads keep working.
 *
 * For each value v = data[offsets[i]:offsets[i+1]] of L bytes, read as W = ceil(L/8)
 * little-endian words w_j (the last zero-padded):
 *     h = mix(sum_j mix(w_j ^ mix(j + LEN)) ^ mix(W + LEN));  out[i] = mix(h ^ L)
 * with mix splitmix64's finalizer and sums modulo 2^64.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static const uint64_t M1 = 0xBF58476D1CE4E5B9ULL, M2 = 0x94D049BB133111EBULL;
static const uint64_t LEN = 0x3C6EF372FE94F82BULL;

static inline uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= M1;
    x ^= x >> 27;
    x *= M2;
    x ^= x >> 31;
    return x;
}

/* mix(j + LEN) for the first words of a value, computed once */
#define POSITIONS 4096
static uint64_t positions[POSITIONS];

static inline uint64_t position(int64_t j) {
    return j < POSITIONS ? positions[j] : mix((uint64_t)j + LEN);
}

static PyObject *byte_segments(PyObject *self, PyObject *args) {
    Py_buffer data, offs, out;
    if (!PyArg_ParseTuple(args, "y*y*w*", &data, &offs, &out))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = offs.len / 8 - 1;
    if (offs.len % 8 != 0 || n < 0 || out.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "byte_segments: offsets must be n+1 int64, out n uint64");
        goto done;
    }
    const int64_t *o = (const int64_t *)offs.buf;
    for (Py_ssize_t i = 0; i < n; i++) {      /* never read outside `data` */
        if (o[i] < 0 || o[i + 1] < o[i] || o[i + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "byte_segments: offsets out of order or outside the data");
            goto done;
        }
    }
    const uint8_t *d = (const uint8_t *)data.buf;
    uint64_t *h = (uint64_t *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *p = d + o[i];
        int64_t len = o[i + 1] - o[i];
        int64_t full = len / 8, tail = len % 8;
        uint64_t sum = 0, w;
        int64_t j = 0;
        for (; j < full; j++) {
            memcpy(&w, p + 8 * j, 8);
            sum += mix(w ^ position(j));
        }
        if (tail) {
            w = 0;
            memcpy(&w, p + 8 * j, (size_t)tail);
            sum += mix(w ^ position(j));
            j++;
        }
        h[i] = mix(mix(sum ^ mix((uint64_t)j + LEN)) ^ (uint64_t)len);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&offs);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"byte_segments", byte_segments, METH_VARARGS,
     "byte_segments(data, offsets, out): rowfp-2 hashes of byte strings data[offsets[i]:offsets[i+1]] into out"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "fpkernel", NULL, -1, methods};

PyMODINIT_FUNC PyInit_fpkernel(void) {
    const uint16_t probe = 1;
    if (*(const uint8_t *)&probe != 1) {       /* words are read little-endian, as numpy's '<u8' */
        PyErr_SetString(PyExc_ImportError, "fpkernel needs a little-endian machine");
        return NULL;
    }
    for (int64_t j = 0; j < POSITIONS; j++)
        positions[j] = mix((uint64_t)j + LEN);
    return PyModule_Create(&module);
}
