/* The hot loop of the FTPS publisher's interval files: COPY rows -> SMT CSV lines.

   One COPY row (ESI ID, channel, revision, interval count, the values as PostgreSQL's array
   text "{0.1,0.25,...}", one status character per interval; tab-separated, newline-ended)
   becomes one CSV line per interval:
   "<ESI ID>,<date>,<revision>,<start>,<end>,<value>,<status>,<channel name>\n".
   Only the common case is done here: a known channel, one status for every interval and no
   missing (NULL) value.
   The first row that is anything else stops the call; Python takes that row (its slower
   path words any error) and calls again after it, so the output keeps the rows' order. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    const char *esiid, *channel, *revision, *count, *values, *statuses;
    Py_ssize_t esiid_len, channel_len, revision_len, count_len, values_len, statuses_len;
    Py_ssize_t next; /* offset after the row's newline */
} Row;

/* Split the row at data[pos:]; 0 if it is not 6 tab-separated fields ending in a newline. */
static int split_row(const char *data, Py_ssize_t size, Py_ssize_t pos, Row *row) {
    const char *end = memchr(data + pos, '\n', (size_t)(size - pos));
    if (end == NULL) return 0;
    const char *field = data + pos;
    const char *starts[6];
    Py_ssize_t lens[6];
    for (int i = 0; i < 6; i++) {
        const char *tab = (i < 5) ? memchr(field, '\t', (size_t)(end - field)) : end;
        if (tab == NULL) return 0;
        starts[i] = field;
        lens[i] = tab - field;
        field = tab + 1;
    }
    if (memchr(starts[5], '\t', (size_t)lens[5]) != NULL) return 0;
    row->esiid = starts[0]; row->esiid_len = lens[0];
    row->channel = starts[1]; row->channel_len = lens[1];
    row->revision = starts[2]; row->revision_len = lens[2];
    row->count = starts[3]; row->count_len = lens[3];
    row->values = starts[4]; row->values_len = lens[4];
    row->statuses = starts[5]; row->statuses_len = lens[5];
    row->next = (end - data) + 1;
    return 1;
}

/* The tail (",A,Consumption\n") of a row in the common case, or NULL. Takes the braces
   off the row's values. */
static PyObject *common_tail(Row *row, PyObject *tails, Py_ssize_t expected,
                             const char *expected_text, Py_ssize_t expected_text_len) {
    if (row->count_len != expected_text_len || memcmp(row->count, expected_text, (size_t)expected_text_len) != 0)
        return NULL;
    if (row->statuses_len != expected || row->channel_len != 1) return NULL;
    char first = row->statuses[0];
    for (Py_ssize_t i = 1; i < expected; i++)
        if (row->statuses[i] != first) return NULL;
    if (row->values_len < 2 || row->values[0] != '{' || row->values[row->values_len - 1] != '}')
        return NULL;
    row->values++;
    row->values_len -= 2;
    /* NULL: a missing interval, printed empty; backslash: COPY escaped something (never in
       these columns). Both are left to Python. */
    if (memchr(row->values, 'N', (size_t)row->values_len) != NULL) return NULL;
    if (memchr(row->values, '\\', (size_t)row->values_len) != NULL) return NULL;
    if (memchr(row->esiid, '\\', (size_t)row->esiid_len) != NULL) return NULL;
    Py_ssize_t commas = 0;
    for (const char *p = row->values, *e = row->values + row->values_len;
         (p = memchr(p, ',', (size_t)(e - p))) != NULL; p++)
        commas++;
    if (commas != expected - 1) return NULL;
    char key[2] = {row->channel[0], first};
    PyObject *k = PyBytes_FromStringAndSize(key, 2);
    if (k == NULL) return NULL;
    PyObject *tail = PyDict_GetItemWithError(tails, k); /* borrowed */
    Py_DECREF(k);
    return tail;
}

/* expand_into(out, out_pos, stop_at, data, pos, end, usage_date, times, tails, expected,
               last_esiid) -> (out_pos, pos, records, new_esiids, last_esiid)
   Writes the CSV lines of the rows in data[pos:end] into the bytearray ``out`` from
   ``out_pos`` on, while they are the common case and fit, until ``out_pos`` reaches
   ``stop_at``; returns where it stopped in both. ``last_esiid`` counts new ESI IDs.
   times: tuple of b"HH:MM,HH:MM,", one per interval; tails: {b"<channel><status>": b",A,...\n"} */
static PyObject *expand_into(PyObject *self, PyObject *args) {
    PyObject *out_obj, *times, *tails, *last_esiid;
    Py_buffer data;
    Py_ssize_t out_pos, stop_at, pos, end, expected;
    const char *date;
    Py_ssize_t date_len;
    if (!PyArg_ParseTuple(args, "O!nny*nny#O!O!nS", &PyByteArray_Type, &out_obj, &out_pos,
                          &stop_at, &data, &pos, &end, &date, &date_len, &PyTuple_Type, &times,
                          &PyDict_Type, &tails, &expected, &last_esiid))
        return NULL;
    PyObject *result = NULL;
    const char *buf = data.buf;
    Py_ssize_t size = data.len;
    if (end >= 0 && end < size) size = end;
    char *out = PyByteArray_AS_STRING(out_obj);
    Py_ssize_t capacity = PyByteArray_GET_SIZE(out_obj);
    if (PyTuple_GET_SIZE(times) != expected || expected < 1 || pos < 0 || pos > size
        || out_pos < 0 || out_pos > capacity) {
        PyErr_SetString(PyExc_ValueError, "bad offsets, or times not one entry per interval");
        goto done;
    }
    char expected_text[24];
    Py_ssize_t expected_text_len = snprintf(expected_text, sizeof expected_text, "%zd", expected);
    Py_ssize_t times_len = 0;
    for (Py_ssize_t i = 0; i < expected; i++) {
        PyObject *t = PyTuple_GET_ITEM(times, i);
        if (!PyBytes_Check(t)) { PyErr_SetString(PyExc_TypeError, "times must be bytes"); goto done; }
        times_len += PyBytes_GET_SIZE(t);
    }
    const char *last = PyBytes_AS_STRING(last_esiid);
    Py_ssize_t last_len = PyBytes_GET_SIZE(last_esiid);
    Py_ssize_t records = 0, new_esiids = 0;
    Row row;
    char prefix[256];
    while (pos < size && out_pos < stop_at && split_row(buf, size, pos, &row)) {
        PyObject *tail = common_tail(&row, tails, expected, expected_text, expected_text_len);
        if (tail == NULL) {
            if (PyErr_Occurred()) goto done;
            break;
        }
        Py_ssize_t plen = row.esiid_len + 1 + date_len + 1 + row.revision_len + 1;
        if (plen > (Py_ssize_t)sizeof prefix) break;  /* absurdly long: Python's path */
        const char *tail_s = PyBytes_AS_STRING(tail);
        Py_ssize_t tail_len = PyBytes_GET_SIZE(tail);
        Py_ssize_t need = expected * (plen + tail_len) + times_len + row.values_len - (expected - 1);
        if (need > capacity - out_pos) break;  /* full: the caller drains and calls again */
        char *p = prefix;
        memcpy(p, row.esiid, (size_t)row.esiid_len); p += row.esiid_len; *p++ = ',';
        memcpy(p, date, (size_t)date_len); p += date_len; *p++ = ',';
        memcpy(p, row.revision, (size_t)row.revision_len); p += row.revision_len; *p++ = ',';
        char *o = out + out_pos;
        const char *value = row.values, *values_end = row.values + row.values_len;
        for (Py_ssize_t i = 0; i < expected; i++) {
            const char *comma = (i < expected - 1)
                ? memchr(value, ',', (size_t)(values_end - value)) : values_end;
            PyObject *t = PyTuple_GET_ITEM(times, i);
            memcpy(o, prefix, (size_t)plen); o += plen;
            memcpy(o, PyBytes_AS_STRING(t), (size_t)PyBytes_GET_SIZE(t)); o += PyBytes_GET_SIZE(t);
            memcpy(o, value, (size_t)(comma - value)); o += comma - value;
            memcpy(o, tail_s, (size_t)tail_len); o += tail_len;
            value = comma + 1;
        }
        out_pos = o - out;
        records++;
        if (row.esiid_len != last_len || memcmp(row.esiid, last, (size_t)last_len) != 0) {
            new_esiids++;
            last = row.esiid;
            last_len = row.esiid_len;
        }
        pos = row.next;
    }
    PyObject *last_obj = (last == PyBytes_AS_STRING(last_esiid))
        ? Py_NewRef(last_esiid) : PyBytes_FromStringAndSize(last, last_len);
    if (last_obj == NULL) goto done;
    result = Py_BuildValue("nnnnN", out_pos, pos, records, new_esiids, last_obj);
done:
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"expand_into", expand_into, METH_VARARGS, "COPY rows -> SMT interval CSV lines, common case only."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_csvexpand", NULL, -1, methods};

PyMODINIT_FUNC PyInit__csvexpand(void) { return PyModule_Create(&module); }
