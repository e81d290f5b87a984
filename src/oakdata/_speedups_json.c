/* oakdata._speedups: JSON strings as the json package writes them, and properties of the
   plain JSON types. See _speedups.c. */
#include <math.h>
#include <string.h>

#include "_speedups.h"

/* How many more bytes than itself each byte takes in a JSON string, as the json package's
   encode_basestring writes it: 1 for \" \\ \b \f \n \r \t, 5 for the other control characters
   (\u00XX), 0 for everything else (UTF-8 is written as it is). Filled in at import. */
static unsigned char EXTRA[256];

void oak_fill_extra(void) {
    for (int c = 0; c < 0x20; c++) {
        EXTRA[c] = 5;
    }
    const char *short_forms = "\"\\\b\f\n\r\t";
    for (const char *c = short_forms; *c; c++) {
        EXTRA[(unsigned char)*c] = 1;
    }
}

Py_ssize_t oak_quoted_length(const unsigned char *text, Py_ssize_t length) {
    Py_ssize_t total = length + 2;
    for (Py_ssize_t i = 0; i < length; i++) {
        total += EXTRA[text[i]];
    }
    return total;
}

/* Writes text quoted; `quoted` is its oak_quoted_length. */
char *oak_write_quoted(char *out, const unsigned char *text, Py_ssize_t length,
                          Py_ssize_t quoted) {
    *out++ = '"';
    if (quoted == length + 2) { /* nothing to escape: nearly every id, name and key */
        memcpy(out, text, (size_t)length);
        out += length;
        *out++ = '"';
        return out;
    }
    for (Py_ssize_t i = 0; i < length; i++) {
        unsigned char c = text[i];
        char escape = 0;
        switch (c) {
            case '"': escape = '"'; break;
            case '\\': escape = '\\'; break;
            case '\b': escape = 'b'; break;
            case '\f': escape = 'f'; break;
            case '\n': escape = 'n'; break;
            case '\r': escape = 'r'; break;
            case '\t': escape = 't'; break;
            default: break;
        }
        if (escape) {
            *out++ = '\\';
            *out++ = escape;
        }
        else if (c < 0x20) {
            memcpy(out, "\\u00", 4);
            out[4] = oak_hex[c >> 4];
            out[5] = oak_hex[c & 0xF];
            out += 6;
        }
        else {
            *out++ = (char)c;
        }
    }
    *out++ = '"';
    return out;
}

/* text's UTF-8: borrowed from an ASCII str, else in *holder (a new bytes object). NULL with
   UnicodeEncodeError for a lone surrogate. */
const unsigned char *oak_utf8_of(PyObject *text, Py_ssize_t *length, PyObject **holder) {
    *holder = NULL;
    if (PyUnicode_IS_ASCII(text)) {
        *length = PyUnicode_GET_LENGTH(text);
        return PyUnicode_1BYTE_DATA(text);
    }
    *holder = PyUnicode_AsUTF8String(text);
    if (*holder == NULL) {
        return NULL;
    }
    *length = PyBytes_GET_SIZE(*holder);
    return (const unsigned char *)PyBytes_AS_STRING(*holder);
}

/* ---- properties of the plain JSON types, written here --------------------------------- */

/* Most properties are str, int, float, bool and None in dicts and lists. Those are written
   here as the json package writes them (floats by repr, str by encode_basestring's rules),
   without a call into an encoder: for a small dict that call costs more than the writing.
   Anything else (a subclass, a date, a non-str key, NaN, an int beyond 64 bits, a lone
   surrogate, nesting past MAX_DEPTH) makes the whole dict go to the encoders, which know
   the default hook and the repairs. Writing calls no Python code, so no other thread can
   change a dict or list while it is read. */

#define MAX_DEPTH 32

void oak_buffer_init(Buffer *buffer) {
    buffer->data = buffer->inline_data;
    buffer->length = 0;
    buffer->capacity = INLINE_BUFFER;
}

void oak_buffer_free(Buffer *buffer) {
    if (buffer->data != buffer->inline_data) {
        PyMem_Free(buffer->data);
    }
    oak_buffer_init(buffer);
}

/* Room for `more` bytes at the end; -1 with MemoryError. */
static int buffer_reserve(Buffer *buffer, Py_ssize_t more) {
    if (buffer->capacity - buffer->length >= more) {
        return 0;
    }
    if (more > PY_SSIZE_T_MAX / 2 - buffer->length) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t capacity = 2 * (buffer->length + more);
    char *data;
    if (buffer->data == buffer->inline_data) {
        data = PyMem_Malloc((size_t)capacity);
        if (data != NULL) {
            memcpy(data, buffer->data, (size_t)buffer->length);
        }
    }
    else {
        data = PyMem_Realloc(buffer->data, (size_t)capacity);
    }
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    buffer->data = data;
    buffer->capacity = capacity;
    return 0;
}

static int buffer_put(Buffer *buffer, const char *text, Py_ssize_t length) {
    if (buffer_reserve(buffer, length) < 0) {
        return -1;
    }
    memcpy(buffer->data + buffer->length, text, (size_t)length);
    buffer->length += length;
    return 0;
}

/* Each writer: 1 written, 0 refused (the encoders must do it), -1 with an exception. */
static int write_str(Buffer *buffer, PyObject *text) {
    if (PyUnicode_IS_ASCII(text)) {
        /* Nearly every key and value: ASCII with nothing to escape, copied as it is checked. */
        Py_ssize_t length = PyUnicode_GET_LENGTH(text);
        const unsigned char *data = PyUnicode_1BYTE_DATA(text);
        if (buffer_reserve(buffer, length + 2) < 0) {
            return -1;
        }
        char *out = buffer->data + buffer->length + 1;
        Py_ssize_t i = 0;
        while (i < length && !EXTRA[data[i]]) {
            out[i] = (char)data[i];
            i++;
        }
        if (i == length) {
            out[-1] = '"';
            out[length] = '"';
            buffer->length += length + 2;
            return 1;
        }
    }
    PyObject *holder;
    Py_ssize_t length;
    const unsigned char *utf8 = oak_utf8_of(text, &length, &holder);
    if (utf8 == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    int written = -1;
    Py_ssize_t quoted = oak_quoted_length(utf8, length);
    if (buffer_reserve(buffer, quoted) == 0) {
        oak_write_quoted(buffer->data + buffer->length, utf8, length, quoted);
        buffer->length += quoted;
        written = 1;
    }
    Py_XDECREF(holder);
    return written;
}

static int write_int(Buffer *buffer, PyObject *value) {
    int overflow;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow) {
        return 0;
    }
    if (number == -1 && PyErr_Occurred()) {
        return -1;
    }
    char digits[24];
    char *end = digits + sizeof(digits), *at = end;
    unsigned long long magnitude = number < 0 ? 0ull - (unsigned long long)number
                                              : (unsigned long long)number;
    do {
        *--at = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (number < 0) {
        *--at = '-';
    }
    return buffer_put(buffer, at, end - at) < 0 ? -1 : 1;
}

/* Most floats in events are short decimals (prices, ratios, durations). For a float of
   at most MAX_FRACTION digits after the point, between 1e-4 and 1e15 (where repr writes no
   exponent), the first k for which round(x * 10^k) / 10^k == x gives repr's own digits:
   under 2^50 the product is off by less than 0.375 from that integer, and the division,
   correctly rounded, is float() of the decimal. Other floats take repr's own call. */
#define MAX_FRACTION 7
static const double POW10[MAX_FRACTION + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};
static const long long IPOW10[MAX_FRACTION + 1] = {1, 10, 100, 1000, 10000, 100000, 1000000,
                                                   10000000};

static int write_short_decimal(Buffer *buffer, double number) {
    double magnitude = fabs(number);
    if (!(magnitude >= 1e-4 && magnitude < 1e15)) {
        return 0;
    }
    for (int k = 0; k <= MAX_FRACTION; k++) {
        double scaled = round(magnitude * POW10[k]);
        if (scaled >= 0x1p50) {
            return 0;
        }
        if (scaled / POW10[k] != magnitude) {
            continue;
        }
        long long digits = (long long)scaled;
        long long whole = digits / IPOW10[k], fraction = digits % IPOW10[k];
        char text[40];
        char *end = text + sizeof(text), *at = end;
        if (k == 0) {
            *--at = '0';
        }
        for (int i = 0; i < k; i++, fraction /= 10) {
            *--at = (char)('0' + fraction % 10);
        }
        *--at = '.';
        do {
            *--at = (char)('0' + whole % 10);
            whole /= 10;
        } while (whole);
        if (number < 0) {
            *--at = '-';
        }
        return buffer_put(buffer, at, end - at) < 0 ? -1 : 1;
    }
    return 0;
}

static int write_float(Buffer *buffer, PyObject *value) {
    double number = PyFloat_AS_DOUBLE(value);
    if (!Py_IS_FINITE(number)) {
        return 0; /* NaN and infinities: the encoders write what the protocol allows */
    }
    int written = write_short_decimal(buffer, number);
    if (written != 0) {
        return written;
    }
    /* float.__repr__'s own call, which is what the json package writes */
    char *text = PyOS_double_to_string(number, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        return -1;
    }
    written = buffer_put(buffer, text, (Py_ssize_t)strlen(text)) < 0 ? -1 : 1;
    PyMem_Free(text);
    return written;
}

static int write_value(Buffer *buffer, PyObject *value, int depth);

int oak_write_dict(Buffer *buffer, PyObject *dict, int depth) {
    Py_ssize_t position = 0;
    PyObject *key, *value;
    int first = 1, written;
    if (buffer_put(buffer, "{", 1) < 0) {
        return -1;
    }
    while (PyDict_Next(dict, &position, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            return 0;
        }
        if ((!first && buffer_put(buffer, ",", 1) < 0)) {
            return -1;
        }
        first = 0;
        if ((written = write_str(buffer, key)) != 1) {
            return written;
        }
        if (buffer_put(buffer, ":", 1) < 0) {
            return -1;
        }
        if ((written = write_value(buffer, value, depth + 1)) != 1) {
            return written;
        }
    }
    return buffer_put(buffer, "}", 1) < 0 ? -1 : 1;
}

static int write_items(Buffer *buffer, PyObject *const *items, Py_ssize_t count, int depth) {
    if (buffer_put(buffer, "[", 1) < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (i && buffer_put(buffer, ",", 1) < 0) {
            return -1;
        }
        int written = write_value(buffer, items[i], depth + 1);
        if (written != 1) {
            return written;
        }
    }
    return buffer_put(buffer, "]", 1) < 0 ? -1 : 1;
}

static int write_value(Buffer *buffer, PyObject *value, int depth) {
    if (PyUnicode_CheckExact(value)) {
        return write_str(buffer, value);
    }
    if (value == Py_True) {
        return buffer_put(buffer, "true", 4) < 0 ? -1 : 1;
    }
    if (value == Py_False) {
        return buffer_put(buffer, "false", 5) < 0 ? -1 : 1;
    }
    if (value == Py_None) {
        return buffer_put(buffer, "null", 4) < 0 ? -1 : 1;
    }
    if (PyLong_CheckExact(value)) {
        return write_int(buffer, value);
    }
    if (PyFloat_CheckExact(value)) {
        return write_float(buffer, value);
    }
    if (depth >= MAX_DEPTH) {
        return 0; /* or a cycle: the encoders' repair path replaces it */
    }
    if (PyDict_CheckExact(value)) {
        return oak_write_dict(buffer, value, depth);
    }
    if (PyList_CheckExact(value)) {
        return write_items(buffer, PySequence_Fast_ITEMS(value), PyList_GET_SIZE(value), depth);
    }
    if (PyTuple_CheckExact(value)) {
        return write_items(buffer, PySequence_Fast_ITEMS(value), PyTuple_GET_SIZE(value), depth);
    }
    return 0;
}
