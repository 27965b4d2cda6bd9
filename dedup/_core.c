/* dedup._core: the compiled hot path (normalization, shingles, signatures, set intersections).
 *
 * Every function here has a Python reference (dedup/text/normalize.py, dedup/match/signatures.py,
 * dedup/match/lsh.py, dedup/match/verify.py) and tests/integration/test_core.py checks that both give the same result
 * bit for bit. The tables that say what a code point is (NFKC mapping, punctuation, word
 * character, t2s trigger, ...) are not written here: dedup/compiled.py computes them from the
 * running Python's unicodedata and the reference module's own classes, and hands them over with
 * set_tables(). A paragraph holding a character the tables call "complex" (combining marks,
 * astral characters, context-dependent case, HTML) is not normalized here at all: the caller
 * sends it through the Python reference, so the compiled path never has to be right about it.
 *
 * Arrays travel as buffers (bytes, array('q'), numpy arrays, mmap): no numpy headers needed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <stdarg.h>

/* ---- character tables (BMP only; astral code points are complex) ------------------------- */

enum {
    F_COMPLEX = 1,   /* as input: the paragraph needs the Python path */
    F_MAPPED = 2,    /* NFKC maps it to the string at MAP_POOL[MAP_INDEX[cp]] */
    F_PUNCT = 4,     /* strip_punctuation removes it */
    F_WORD = 8,      /* fold_placeholders: a letter/digit/mark of a non-CJK script */
    F_NUMERAL = 16,  /* fold_placeholders: a numeral next to which ○ stays */
    F_SPACE = 32,    /* re's \s: the character before a pinyin "(" must not be one */
    F_TONED = 64,    /* a tone-marked pinyin letter */
    F_T2S = 128,     /* OpenCC t2s may change a text holding it */
    F_SIMPLE = 256,  /* may appear in text after NFKC (OpenCC's output is checked against it) */
    F_T2S_CALL = 512, /* a text holding it goes through OpenCC itself (a normalization key) */
};

static uint16_t FLAGS[65536];
static uint32_t LOWER[65536];
static uint32_t MAP_INDEX[65536];
static uint32_t *MAP_POOL = NULL; /* length, then that many code points */
static Py_ssize_t MAP_POOL_LEN = 0;
static uint8_t PINYIN_LETTER[65536]; /* 1-based index of a letter in the syllable alphabet */
static uint64_t *SYLLABLES = NULL;    /* sorted packed syllables (6 bits a letter) */
static Py_ssize_t N_SYLLABLES = 0;
static int TABLES_SET = 0;
/* OpenCC t2s by character, where no multi-character dictionary key occurs in the text: the
 * conversion of each character alone (T2S_POOL[T2S_INDEX[cp]]: length, code points), and the
 * multi-character keys grouped by first character (PHRASE_POOL[PHRASE_START[cp]]: count, then
 * length and code points of each). T2S_READY 0: every such text goes through OpenCC. */
static uint32_t T2S_INDEX[65536];
static uint32_t PHRASE_START[65536];
static uint32_t *T2S_POOL = NULL, *PHRASE_POOL = NULL;
static Py_ssize_t T2S_POOL_LEN = 0, PHRASE_POOL_LEN = 0;
static int T2S_READY = 0;
#define NONE 0xFFFFFFFFu

#define PLACEHOLDER 0xE000u

/* ---- growable code point buffers --------------------------------------------------------- */

/* Errors set from code that may run without the GIL (pair_intersections lets go of it while
 * it counts, so that threads score batches at once): PyGILState_Ensure takes the GIL when this
 * thread let go of it, and is a no-op when it holds it. */
static void fail_no_memory(void) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyErr_NoMemory();
    PyGILState_Release(gil);
}

static void fail_value(const char *message) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyErr_SetString(PyExc_ValueError, message);
    PyGILState_Release(gil);
}

/* a growable array of ``type`` named ``name`` with ``name##_reserve(b, need)``: room for
 * ``need`` items, doubling from ``first``; -1 (MemoryError set) when out of memory */
#define GROWABLE(name, type, first)                                               \
    typedef struct {                                                              \
        type *data;                                                               \
        Py_ssize_t len, cap;                                                      \
    } name;                                                                       \
    static int name##_reserve(name *b, Py_ssize_t need) {                         \
        if (need <= b->cap) return 0;                                             \
        Py_ssize_t cap = b->cap ? b->cap : (first);                               \
        while (cap < need) cap *= 2;                                              \
        type *data = realloc(b->data, (size_t)cap * sizeof(type));                \
        if (!data) { fail_no_memory(); return -1; }                               \
        b->data = data;                                                           \
        b->cap = cap;                                                             \
        return 0;                                                                 \
    }

GROWABLE(cpbuf, uint32_t, 256)
#define cp_reserve cpbuf_reserve

static cpbuf BUF_A = {0}, BUF_B = {0};

static int buffer_of(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len % itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: buffer of %zd bytes is not a whole number of %zd-byte items",
                     what, view->len, itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* a copy of a buffer of ``itemsize``-byte items (set_tables and set_t2s keep their own) */
static void *copy_pool(Py_buffer *v, Py_ssize_t itemsize, Py_ssize_t *len) {
    *len = v->len / itemsize;
    void *pool = malloc((size_t)(v->len ? v->len : 1));
    if (!pool) { PyErr_NoMemory(); return NULL; }
    memcpy(pool, v->buf, (size_t)v->len);
    return pool;
}

/* ---- set_tables --------------------------------------------------------------------------- */

static PyObject *set_tables(PyObject *self, PyObject *args) {
    PyObject *flags, *lower, *map_index, *map_pool, *letters, *syllables;
    if (!PyArg_ParseTuple(args, "OOOOOO", &flags, &lower, &map_index, &map_pool, &letters, &syllables)) return NULL;
    Py_buffer v[6];
    PyObject *objs[6] = {flags, lower, map_index, map_pool, letters, syllables};
    Py_ssize_t sizes[6] = {2, 4, 4, 4, 1, 8};
    Py_ssize_t want[6] = {65536 * 2, 65536 * 4, 65536 * 4, -1, 65536, -1};
    int got = 0;
    PyObject *result = NULL;
    for (; got < 6; got++) {
        if (buffer_of(objs[got], &v[got], sizes[got], "set_tables") < 0) goto done;
        if (want[got] >= 0 && v[got].len != want[got]) {
            PyErr_Format(PyExc_ValueError, "set_tables: table %d has %zd bytes, expected %zd", got, v[got].len, want[got]);
            got++;
            goto done;
        }
    }
    TABLES_SET = 0;  /* until every table is in and checked */
    memcpy(FLAGS, v[0].buf, sizeof FLAGS);
    memcpy(LOWER, v[1].buf, sizeof LOWER);
    memcpy(MAP_INDEX, v[2].buf, sizeof MAP_INDEX);
    free(MAP_POOL);
    free(SYLLABLES);
    MAP_POOL = NULL;
    SYLLABLES = NULL;
    if (!(MAP_POOL = copy_pool(&v[3], 4, &MAP_POOL_LEN)) || !(SYLLABLES = copy_pool(&v[5], 8, &N_SYLLABLES))) goto done;
    memcpy(PINYIN_LETTER, v[4].buf, sizeof PINYIN_LETTER);
    for (Py_ssize_t i = 0; i < 65536; i++) {
        if ((FLAGS[i] & F_MAPPED) && (MAP_INDEX[i] >= (uint32_t)MAP_POOL_LEN || MAP_INDEX[i] + MAP_POOL[MAP_INDEX[i]] >= (uint32_t)MAP_POOL_LEN)) {
            PyErr_SetString(PyExc_ValueError, "set_tables: a mapping points outside the pool");
            goto done;
        }
    }
    TABLES_SET = 1;
    result = Py_None;
    Py_INCREF(result);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return result;
}


/* set_t2s(index, pool, phrase_start, phrase_pool): the character conversion of t2s (see above) */
static PyObject *set_t2s(PyObject *self, PyObject *args) {
    PyObject *objs[4];
    if (!PyArg_ParseTuple(args, "OOOO", &objs[0], &objs[1], &objs[2], &objs[3])) return NULL;
    Py_buffer v[4];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 4; got++)
        if (buffer_of(objs[got], &v[got], 4, "set_t2s") < 0) goto done;
    if (v[0].len != 65536 * 4 || v[2].len != 65536 * 4) { PyErr_SetString(PyExc_ValueError, "set_t2s: index tables of 65536 entries"); goto done; }
    T2S_READY = 0;
    free(T2S_POOL); free(PHRASE_POOL);
    T2S_POOL = PHRASE_POOL = NULL;
    if (!(T2S_POOL = copy_pool(&v[1], 4, &T2S_POOL_LEN)) || !(PHRASE_POOL = copy_pool(&v[3], 4, &PHRASE_POOL_LEN))) goto done;
    memcpy(T2S_INDEX, v[0].buf, sizeof T2S_INDEX);
    memcpy(PHRASE_START, v[2].buf, sizeof PHRASE_START);
    for (Py_ssize_t i = 0; i < 65536; i++) {
        if ((T2S_INDEX[i] != NONE && (T2S_INDEX[i] >= (uint32_t)T2S_POOL_LEN || T2S_INDEX[i] + T2S_POOL[T2S_INDEX[i]] >= (uint32_t)T2S_POOL_LEN)) ||
            (PHRASE_START[i] != NONE && PHRASE_START[i] >= (uint32_t)PHRASE_POOL_LEN)) {
            PyErr_SetString(PyExc_ValueError, "set_t2s: an entry points outside its pool");
            goto done;
        }
    }
    T2S_READY = 1;
    result = Py_None;
    Py_INCREF(result);
done:
    for (int i = 0; i < got; i++) PyBuffer_Release(&v[i]);
    return result;
}

/* Convert ``in`` by character into ``out`` when no multi-character key occurs in it; returns 1
 * (and leaves ``out`` alone) when OpenCC itself must convert it. */
static int t2s_by_character(const cpbuf *in, cpbuf *out) {
    if (!T2S_READY) return 1;
    const uint32_t *s = in->data;
    Py_ssize_t n = in->len;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t c = s[i];
        if (FLAGS[c] & F_T2S_CALL) return 1;
        uint32_t at = PHRASE_START[c];
        if (at == NONE) continue;
        uint32_t count = PHRASE_POOL[at++];
        for (uint32_t k = 0; k < count; k++) {
            uint32_t len = PHRASE_POOL[at];
            const uint32_t *phrase = PHRASE_POOL + at + 1;
            if ((Py_ssize_t)len <= n - i && !memcmp(phrase, s + i, (size_t)len * 4)) return 1;
            at += 1 + len;
        }
    }
    if (cp_reserve(out, 2 * n + 1) < 0) return -1;
    out->len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t at = T2S_INDEX[s[i]];
        if (at == NONE) {
            out->data[out->len++] = s[i];
            continue;
        }
        uint32_t len = T2S_POOL[at];
        if (cp_reserve(out, out->len + len + (n - i)) < 0) return -1;
        memcpy(out->data + out->len, T2S_POOL + at + 1, (size_t)len * 4);
        out->len += len;
    }
    return 0;
}
/* ---- normalization steps on code point buffers --------------------------------------------- */

static int is_ascii_alpha(uint32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }
static int is_hex(uint32_t c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* Could the text at s[i] == '&' be an entity normalize._ENTITY_RE decodes? */
static int may_be_entity(const uint32_t *s, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t j = i + 1;
    if (j < n && s[j] == '#') {
        j++;
        if (j < n && (s[j] == 'x' || s[j] == 'X')) {
            Py_ssize_t k = j + 1;
            while (k < n && k - j - 1 < 6 && is_hex(s[k])) k++;
            if (k > j + 1 && k < n && s[k] == ';') return 1;
        }
        Py_ssize_t k = j;
        while (k < n && k - j < 7 && is_ascii_digit(s[k])) k++;
        return k > j && k < n && s[k] == ';';
    }
    if (j < n && is_ascii_alpha(s[j])) {
        Py_ssize_t k = j + 1;
        while (k < n && k - j < 32 && (is_ascii_alpha(s[k]) || is_ascii_digit(s[k]))) k++;
        return k >= j + 2 && k < n && s[k] == ';';
    }
    return 0;
}

static int name_char(uint32_t c) { return is_ascii_alpha(c) || is_ascii_digit(c) || c == ':' || c == '.' || c == '_' || c == '-'; }

/* Could the text at s[i] == '<' open a comment, a script or style element, or a tag of
 * normalize._TAG_RE? Every tag there is "<", an optional "/", a name, then white space, "/" or
 * ">"; "<jdoe@example.org>", "a < b" and "<<书名>>" are none of these. */
static int may_be_tag(const uint32_t *s, Py_ssize_t n, Py_ssize_t i) {
    Py_ssize_t j = i + 1;
    if (j < n && s[j] == '!') return 1;
    if (j < n && s[j] == '/') j++;
    /* the patterns ignore case, and re then takes some letters beyond ASCII for ASCII ones
     * (dotless ı for i, long ſ for s): past ASCII, leave the decision to the Python path */
    if (j < n && s[j] >= 0x80) return 1;
    if (j >= n || !is_ascii_alpha(s[j])) return 0;
    Py_ssize_t k = j;
    while (k < n && name_char(s[k])) k++;
    if (k < n && s[k] >= 0x80) return 1;
    static const char *const raw[] = {"script", "style"};
    for (int r = 0; r < 2; r++) {
        Py_ssize_t len = (Py_ssize_t)strlen(raw[r]), m = 0;
        while (m < len && j + m < n && (s[j + m] | 0x20) == (uint32_t)raw[r][m]) m++;
        if (m == len) return 1;
    }
    if (k >= n) return 0;
    uint32_t next = s[k];
    return next == '>' || next == '/' || (next < 0x10000 && (FLAGS[next] & F_SPACE));
}

/* after NFKC: does the text need normalize.strip_html (the Python path)? */
static int may_be_html(const cpbuf *b) {
    for (Py_ssize_t i = 0; i < b->len; i++) {
        if (b->data[i] == '<' && may_be_tag(b->data, b->len, i)) return 1;
        if (b->data[i] == '&' && may_be_entity(b->data, b->len, i)) return 1;
    }
    return 0;
}

/* 1. NFKC by table; 2. the HTML step is the Python path's: returns 1 when the text needs it,
 * -1 on error, 0 when done. */
/* one loop a string kind (1, 2 or 4 bytes a character), so the kind is not tested a character */
#define NFKC_LOOP(type)                                                                   \
    for (Py_ssize_t i = from; i < to; i++) {                                              \
        Py_UCS4 c = ((const type *)data)[i];                                              \
        if (c >= 0x10000) return 1;                                                       \
        uint16_t f = FLAGS[c];                                                            \
        if (f & F_COMPLEX) return 1;                                                      \
        if (f & F_MAPPED) {                                                               \
            const uint32_t *m = MAP_POOL + MAP_INDEX[c];                                  \
            uint32_t len = m[0];                                                          \
            if (cp_reserve(out, out->len + len + (to - i)) < 0) return -1;                \
            for (uint32_t j = 1; j <= len; j++) {                                         \
                has_markup |= m[j] == '<' || m[j] == '&';                                 \
                out->data[out->len++] = m[j];                                             \
            }                                                                             \
        } else {                                                                          \
            has_markup |= c == '<' || c == '&';                                           \
            out->data[out->len++] = c;                                                    \
        }                                                                                 \
    }

static int step_nfkc_range(int kind, const void *data, Py_ssize_t from, Py_ssize_t to, cpbuf *out) {
    int has_markup = 0;
    if (cp_reserve(out, to - from + 16) < 0) return -1;
    out->len = 0;
    if (kind == PyUnicode_1BYTE_KIND) { NFKC_LOOP(Py_UCS1) }
    else if (kind == PyUnicode_2BYTE_KIND) { NFKC_LOOP(Py_UCS2) }
    else { NFKC_LOOP(Py_UCS4) }
    return has_markup && may_be_html(out);
}


static int pinyin_syllable(const uint32_t *s, Py_ssize_t len) {
    if (len < 1 || len > 6) return 0;
    uint64_t packed = 0;
    int toned = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        uint32_t c = s[i];
        if (c >= 0x10000 || !PINYIN_LETTER[c]) return 0;
        toned |= (FLAGS[c] & F_TONED) != 0;
        packed = (packed << 6) | PINYIN_LETTER[c];
    }
    if (!toned) return 0;
    Py_ssize_t lo = 0, hi = N_SYLLABLES;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        if (SYLLABLES[mid] < packed) lo = mid + 1;
        else hi = mid;
    }
    return lo < N_SYLLABLES && SYLLABLES[lo] == packed;
}

/* 3. strip_pinyin: one pass of the reference regex's subn, left to right over ``in``, whose
 * look-behind sees the input of the pass; repeated until a pass removes nothing. */
static int pinyin_pass(const cpbuf *in, cpbuf *out) {
    const uint32_t *s = in->data;
    Py_ssize_t n = in->len, i = 0, removed = 0;
    if (cp_reserve(out, n + 1) < 0) return -1;
    out->len = 0;
    while (i < n) {
        uint32_t c = s[i];
        int opener = c == '?' || (c == '(' && i > 0 && s[i - 1] < 0x10000 && !(FLAGS[s[i - 1]] & F_SPACE) &&
                                  s[i - 1] != '(' && s[i - 1] != '[' && s[i - 1] != '{' && s[i - 1] != '<');
        if (opener) {
            Py_ssize_t j = i + 1;
            while (j < n && j - i <= 7 && s[j] != ')' && s[j] != '(') j++;
            if (j < n && s[j] == ')' && pinyin_syllable(s + i + 1, j - i - 1)) {
                i = j + 1;
                removed++;
                continue;
            }
        }
        out->data[out->len++] = c;
        i++;
    }
    return removed > 0;
}

static int step_pinyin(cpbuf **cur, cpbuf **other) {
    int has_close = 0;
    for (Py_ssize_t i = 0; i < (*cur)->len; i++)
        if ((*cur)->data[i] == ')') { has_close = 1; break; }
    if (!has_close) return 0;
    for (;;) {
        int r = pinyin_pass(*cur, *other);
        if (r < 0) return -1;
        cpbuf *t = *cur; *cur = *other; *other = t;
        if (r == 0) return 0;
    }
}

static int is_xstar(uint32_t c) { return c == 'x' || c == 'X' || c == 0xD7 || c == '*'; }
static int is_circle(uint32_t c) { return c == 0x25CB || c == 0x3007; }
static int has_flag(uint32_t c, uint16_t f) { return c < 0x10000 && (FLAGS[c] & f); }

/* the ordinary words after 某 that keep it (normalize._MOU_WORDS) */
static const uint32_t MOU_ONE[] = {0x4E9B, 0x79CD, 0x4E2A, 0x4E00, 0x5904, 0x6837, 0x7C7B, 0x65F6};

static Py_ssize_t placeholder_atom(const uint32_t *s, Py_ssize_t n, Py_ssize_t i) {
    uint32_t c = s[i];
    if (is_xstar(c)) {
        if (i > 0 && (has_flag(s[i - 1], F_WORD) || s[i - 1] == 0xD7 || s[i - 1] == '*')) return -1;
        Py_ssize_t j = i + 1;
        while (j < n && is_xstar(s[j])) j++;
        if (j < n && has_flag(s[j], F_WORD)) return -1;
        return j;
    }
    if (is_circle(c)) {
        if (i > 0 && has_flag(s[i - 1], F_NUMERAL)) return -1;
        Py_ssize_t j = i + 1;
        while (j < n && is_circle(s[j])) j++;
        if (j < n && has_flag(s[j], F_NUMERAL)) return -1;
        return j;
    }
    if (c == 0x67D0) { /* 某 */
        if (i + 1 < n) {
            for (size_t w = 0; w < sizeof MOU_ONE / sizeof MOU_ONE[0]; w++)
                if (s[i + 1] == MOU_ONE[w]) return -1;
            if (i + 2 < n && s[i + 1] == 0x65B9 && s[i + 2] == 0x9762) return -1; /* 方面 */
        }
        return i + 1;
    }
    return -1;
}

/* 5. fold_placeholders, 6. lowercase, 7. strip_punctuation, in one pass over ``in``. Returns 1
 * when a character is not simple (OpenCC's output can hold one): the Python path then. */
static int opens_placeholder(uint32_t c) { return is_xstar(c) || is_circle(c) || c == 0x67D0; }

/* ``check``: the text may hold characters that are not simple (it came from a script fold);
 * the text NFKC's table made holds none */
static int steps_after_script(const cpbuf *in, cpbuf *out, int check) {
    const uint32_t *s = in->data;
    Py_ssize_t n = in->len, i = 0;
    if (cp_reserve(out, n + 1) < 0) return -1;
    out->len = 0;
    if (check)
        for (Py_ssize_t k = 0; k < n; k++)
            if (s[k] >= 0x10000 || !(FLAGS[s[k]] & F_SIMPLE)) return 1;
    uint32_t *o = out->data;
    while (i < n) {
        uint32_t c = s[i];
        if (!opens_placeholder(c)) { /* the common case: lowercase, drop punctuation */
            uint32_t lowered = LOWER[c];
            *o = lowered;
            o += !(FLAGS[lowered] & F_PUNCT);
            i++;
            continue;
        }
        if (c == '*') { /* normalize._LINE_MARKER_RE: a run of * beginning a line, before a space */
            Py_ssize_t b = i, j = i;
            while (b > 0 && s[b - 1] != '\n' && Py_UNICODE_ISSPACE(s[b - 1])) b--;
            while (j < n && s[j] == '*') j++;
            if ((b == 0 || s[b - 1] == '\n') && (j == n || Py_UNICODE_ISSPACE(s[j]))) {
                i = j;
                continue;
            }
        }
        out->len = o - out->data;
        Py_ssize_t end = placeholder_atom(s, n, i);
        if (end >= 0) {
            Py_ssize_t next;
            while (end < n && (next = placeholder_atom(s, n, end)) >= 0) end = next;
            out->data[out->len++] = PLACEHOLDER;
            o = out->data + out->len;
            i = end;
            continue;
        }
        uint32_t lowered = LOWER[c];
        *o = lowered;
        o += !(FLAGS[lowered] & F_PUNCT);
        i++;
    }
    out->len = o - out->data;
    return 0;
}

static int needs_t2s(const cpbuf *b) {
    for (Py_ssize_t i = 0; i < b->len; i++)
        if (FLAGS[b->data[i]] & F_T2S) return 1;
    return 0;
}

static PyObject *as_str(const cpbuf *b) {
    return PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, b->data, b->len);
}

static int check_tables(void) {
    if (!TABLES_SET) {
        PyErr_SetString(PyExc_RuntimeError, "dedup._core: set_tables() was not called");
        return -1;
    }
    return 0;
}

/* ---- shingles and signatures (signatures.py, lsh.py) ---------------------------------------- */

#define GOLDEN 0x9E3779B97F4A7C15ull
#define MIX1 0xBF58476D1CE4E5B9ull
#define MIX2 0x94D049BB133111EBull
#define DENSE_SCRIPT_START 0x2E80u
#define SHINGLE_ID_SHIFT 24 /* ids are the top 40 bits */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= MIX1;
    x ^= x >> 27;
    x *= MIX2;
    x ^= x >> 31;
    return x;
}

/* decode one key's UTF-8 (valid: Python encoded it) into code points */
/* decode one key's UTF-8 into code points; -1 on error (a ValueError for bytes that are not
 * UTF-8: the keys of a scan always are, but the functions take any buffer) */
static Py_ssize_t decode_utf8(const unsigned char *p, Py_ssize_t len, cpbuf *out) {
    if (cp_reserve(out, len + 8) < 0) return -1;
    Py_ssize_t n = 0, i = 0;
    while (i < len) {
        unsigned char c = p[i];
        uint32_t cp;
        int extra;
        if (c < 0x80) { cp = c; extra = 0; }
        else if (c >= 0xC2 && c < 0xE0) { cp = c & 0x1Fu; extra = 1; }
        else if (c >= 0xE0 && c < 0xF0) { cp = c & 0x0Fu; extra = 2; }
        else if (c >= 0xF0 && c < 0xF5) { cp = c & 0x07u; extra = 3; }
        else goto invalid;
        if (i + extra >= len + (extra == 0)) goto invalid;
        for (int e = 1; e <= extra; e++) {
            if ((p[i + e] & 0xC0u) != 0x80u) goto invalid;
            cp = (cp << 6) | (p[i + e] & 0x3Fu);
        }
        if ((extra == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            goto invalid;
        i += 1 + extra;
        out->data[n++] = cp;
    }
    out->len = n;
    return n;
invalid:
    fail_value("a key is not valid UTF-8 (or its offsets cut a character)");
    return -1;
}

GROWABLE(u64buf, uint64_t, 1024)
#define u64_reserve u64buf_reserve

/* The shingle hashes of one key (code points ``cp``, ``n`` of them) into ``out`` (appended),
 * as signatures.shingle_hashes makes them; returns how many. */
static Py_ssize_t key_shingles(const uint32_t *cp, Py_ssize_t n, int k, int dense_k, uint64_t seed, u64buf *out) {
    if (n == 0) return 0;
    int size = k;
    if (dense_k > 0 && dense_k != k) {
        Py_ssize_t dense = 0;
        for (Py_ssize_t i = 0; i < n; i++) dense += cp[i] >= DENSE_SCRIPT_START;
        if (2 * dense >= n) size = dense_k;
    }
    Py_ssize_t count = n >= size ? n - size + 1 : 1;
    if (u64_reserve(out, out->len + count) < 0) return -1;
    uint64_t start = seed * GOLDEN + (uint64_t)size;
    for (Py_ssize_t p = 0; p < count; p++) {
        uint64_t h = start;
        for (int j = 0; j < size; j++) {
            h ^= p + j < n ? (uint64_t)cp[p + j] : 0;
            if (j < size - 1) h *= GOLDEN;
        }
        out->data[out->len++] = mix64(h);
    }
    return count;
}

/* in-place ascending sort of uint64: quicksort (median of three) with insertion sort for short
 * runs, inlined (qsort's comparison through a function pointer was most of the signing time) */
static void sort_u64(uint64_t *v, Py_ssize_t n) {
    while (n > 16) {
        uint64_t a = v[0], b = v[n / 2], c = v[n - 1];
        uint64_t pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        Py_ssize_t i = 0, j = n - 1;
        for (;;) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i >= j) break;
            uint64_t t = v[i]; v[i] = v[j]; v[j] = t;
            i++; j--;
        }
        /* [0, j] <= pivot <= [j + 1, n): recurse into the smaller side, loop on the larger */
        Py_ssize_t left = j + 1, right = n - left;
        if (left < right) { sort_u64(v, left); v += left; n = right; }
        else { sort_u64(v + left, right); n = left; }
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        Py_ssize_t j = i;
        while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
        v[j] = x;
    }
}

/* sorted distinct shingle ids (top 40 bits) of ``hashes[0:n]`` into ``ids``; returns the count */
static Py_ssize_t distinct_ids(const uint64_t *hashes, Py_ssize_t n, uint64_t *ids) {
    for (Py_ssize_t i = 0; i < n; i++) ids[i] = hashes[i] >> SHINGLE_ID_SHIFT;
    sort_u64(ids, n);
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (m == 0 || ids[i] != ids[m - 1]) ids[m++] = ids[i];
    return m;
}

static inline Py_ssize_t probe(Py_ssize_t j, uint64_t a, int num_perm, uint64_t seed) {
    uint64_t h = mix64(((uint64_t)j * 0x100000001B3ull + a) ^ (seed * MIX1));
    Py_ssize_t t = (Py_ssize_t)(((h >> 32) * (uint64_t)(num_perm - 1)) >> 32);
    return t >= j ? t + 1 : t;
}

typedef struct {
    Py_buffer data, offsets, ids;
    const unsigned char *bytes;
    const int64_t *off;
    const int64_t *id;
    Py_ssize_t n_keys, n_store;
} keyview;

static void keyview_release(keyview *kv, int got) {
    if (got > 0) PyBuffer_Release(&kv->data);
    if (got > 1) PyBuffer_Release(&kv->offsets);
    if (got > 2) PyBuffer_Release(&kv->ids);
}

/* data: UTF-8 bytes of the keys; offsets: int64, key i is data[offsets[i]:offsets[i+1]];
 * ids: int64 indexes of the keys wanted (None: all). Returns how many buffers it holds. */
static int keyview_open(keyview *kv, PyObject *data, PyObject *offsets, PyObject *ids) {
    int got = 0;
    if (buffer_of(data, &kv->data, 1, "keys") < 0) return -1;
    got++;
    if (buffer_of(offsets, &kv->offsets, 8, "offsets") < 0) { keyview_release(kv, got); return -1; }
    got++;
    kv->bytes = kv->data.buf;
    kv->off = kv->offsets.buf;
    kv->n_store = kv->offsets.len / 8 - 1;
    if (kv->n_store < 0) {
        PyErr_SetString(PyExc_ValueError, "offsets: at least one offset is needed");
        keyview_release(kv, got);
        return -1;
    }
    if (ids == Py_None) {
        kv->id = NULL;
        kv->n_keys = kv->n_store;
    } else {
        if (buffer_of(ids, &kv->ids, 8, "ids") < 0) { keyview_release(kv, got); return -1; }
        got++;
        kv->id = kv->ids.buf;
        kv->n_keys = kv->ids.len / 8;
        for (Py_ssize_t i = 0; i < kv->n_keys; i++) {
            if (kv->id[i] < 0 || kv->id[i] >= kv->n_store) {
                PyErr_Format(PyExc_IndexError, "key index %lld out of range", (long long)kv->id[i]);
                keyview_release(kv, got);
                return -1;
            }
        }
    }
    for (Py_ssize_t i = 0; i < kv->n_keys; i++) {
        int64_t s = kv->id ? kv->id[i] : i;
        if (kv->off[s] < 0 || kv->off[s + 1] < kv->off[s] || kv->off[s + 1] > kv->data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets do not fit the key bytes");
            keyview_release(kv, got);
            return -1;
        }
    }
    return got;
}

static PyObject *bytes_of(const void *p, Py_ssize_t n) {
    return PyBytes_FromStringAndSize(n ? (const char *)p : "", n);
}

/* bytes_tuple(n, p1, len1, p2, len2, ...): a tuple of ``n`` bytes objects, the i-th a copy of
 * ``len_i`` bytes at ``p_i`` (each length a Py_ssize_t); what every function returning several
 * arrays hands back. NULL, with the error set, when one cannot be made. */
static PyObject *bytes_tuple(int n, ...) {
    PyObject *tuple = PyTuple_New(n);
    if (!tuple) return NULL;
    va_list args;
    va_start(args, n);
    for (int i = 0; i < n; i++) {
        const void *p = va_arg(args, const void *);
        Py_ssize_t len = va_arg(args, Py_ssize_t);
        PyObject *item = bytes_of(p, len);
        if (!item) { Py_DECREF(tuple); tuple = NULL; break; }
        PyTuple_SET_ITEM(tuple, i, item);
    }
    va_end(args);
    return tuple;
}

/* A set of shingle ids (< 2^40) by open addressing: slot = id + 1, 0 empty. ``idset_clear``
 * makes it empty with room for ``m`` ids; ``idset_add`` says whether the id was new. */
typedef struct {
    u64buf table;
    uint64_t mask;
} idset;

static int idset_clear(idset *set, Py_ssize_t m) {
    Py_ssize_t size = 16;
    while (size < 2 * m) size *= 2;
    if (u64_reserve(&set->table, size) < 0) return -1;
    memset(set->table.data, 0, (size_t)size * 8);
    set->mask = (uint64_t)(size - 1);
    return 0;
}

static inline int idset_add(idset *set, uint64_t id) {
    uint64_t value = id + 1, pos = id & set->mask; /* ids are bits of a mix64 output: uniform already */
    while (set->table.data[pos]) {
        if (set->table.data[pos] == value) return 0;
        pos = (pos + 1) & set->mask;
    }
    set->table.data[pos] = value;
    return 1;
}

/* the slot of ``id`` in the set, -1 when it is not in it */
static inline Py_ssize_t idset_slot(const idset *set, uint64_t id) {
    uint64_t value = id + 1, pos = id & set->mask; /* ids are bits of a mix64 output: uniform already */
    while (set->table.data[pos]) {
        if (set->table.data[pos] == value) return (Py_ssize_t)pos;
        pos = (pos + 1) & set->mask;
    }
    return -1;
}

/* sign(data, offsets, ids, k, dense_k, seed, num_perm, bands, rows, anchor_mod, anchor_gap)
 *   -> (set sizes int64, band hashes uint32 [n, bands], anchor owners int32, anchor values uint32)
 * anchor_mod 0: no anchors. An anchor joins the shingle ids at positions h and h + anchor_gap
 * (lsh.anchors is the reference); each key's distinct anchors come out sorted. */
static PyObject *sign(PyObject *self, PyObject *args) {
    PyObject *data, *offsets, *ids;
    int k, dense_k, num_perm, n_bands, rows, anchor_mod, anchor_gap;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OOOiiKiiiii", &data, &offsets, &ids, &k, &dense_k, &seed, &num_perm, &n_bands, &rows, &anchor_mod, &anchor_gap))
        return NULL;
    if (k < 1 || num_perm < 2 || num_perm > 65536 || n_bands < 0 || rows < 1 || (long long)n_bands * rows > num_perm || anchor_mod < 0 || anchor_gap < 1) {
        PyErr_SetString(PyExc_ValueError, "sign: bad parameters");
        return NULL;
    }
    keyview kv;
    int got = keyview_open(&kv, data, offsets, ids);
    if (got < 0) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = kv.n_keys;
    int64_t *sizes = malloc((size_t)(n ? n : 1) * 8);
    Py_ssize_t n_values = n * n_bands;
    uint32_t *bands = malloc((size_t)(n_values > 0 ? n_values : 1) * 4);
    uint32_t *sig = malloc((size_t)num_perm * 4);
    uint32_t *dense = malloc((size_t)num_perm * 4);
    u64buf hashes = {0}, ids_buf = {0};
    idset seen = {{0}, 0};
    cpbuf cps = {0};
    Py_ssize_t n_anchor = 0, cap_anchor = 1024;
    int32_t *a_owner = malloc((size_t)cap_anchor * 4);
    uint32_t *a_value = malloc((size_t)cap_anchor * 4);
    if (!sizes || !bands || !sig || !dense || !a_owner || !a_value) { PyErr_NoMemory(); goto done; }
    /* the keys are signed without the interpreter lock (the read stage's threads sign their
     * batches at once); its errors are set by the GIL-safe helpers */
    PyThreadState *unlocked = PyEval_SaveThread();
    int failed = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = kv.id ? kv.id[i] : i;
        if (decode_utf8(kv.bytes + kv.off[s], kv.off[s + 1] - kv.off[s], &cps) < 0) goto sign_failed;
        hashes.len = 0;
        Py_ssize_t m = key_shingles(cps.data, cps.len, k, dense_k, seed, &hashes);
        if (m < 0 || u64_reserve(&ids_buf, m + 1) < 0) goto sign_failed;
        /* the set size by a hash set of the ids; only the anchors need sorting */
        if (idset_clear(&seen, m) < 0) goto sign_failed;
        Py_ssize_t distinct = 0, n_picked = 0;
        for (Py_ssize_t h = 0; h < m; h++) {
            if (idset_add(&seen, hashes.data[h] >> SHINGLE_ID_SHIFT)) distinct++;
        }
        sizes[i] = distinct;
        if (anchor_mod) {
            for (Py_ssize_t h = 0; h + anchor_gap < m; h++) {
                uint64_t a = (hashes.data[h] >> SHINGLE_ID_SHIFT) * GOLDEN ^ (hashes.data[h + anchor_gap] >> SHINGLE_ID_SHIFT);
                a = mix64(a) >> SHINGLE_ID_SHIFT;
                if (a % (uint64_t)anchor_mod == 0) ids_buf.data[n_picked++] = a;
            }
            sort_u64(ids_buf.data, n_picked);
            for (Py_ssize_t a = 0; a < n_picked; a++) {
                if (a && ids_buf.data[a] == ids_buf.data[a - 1]) continue;
                if (n_anchor == cap_anchor) {
                    cap_anchor *= 2;
                    int32_t *o = realloc(a_owner, (size_t)cap_anchor * 4);
                    if (!o) { fail_no_memory(); goto sign_failed; }
                    a_owner = o;
                    uint32_t *v = realloc(a_value, (size_t)cap_anchor * 4);
                    if (!v) { fail_no_memory(); goto sign_failed; }
                    a_value = v;
                }
                a_owner[n_anchor] = (int32_t)i;
                a_value[n_anchor++] = (uint32_t)(ids_buf.data[a] >> 8);
            }
        }
        /* one-permutation hashing over every shingle, repeats included */
        for (int j = 0; j < num_perm; j++) sig[j] = 0xFFFFFFFFu;
        for (Py_ssize_t h = 0; h < m; h++) {
            uint64_t g = mix64(hashes.data[h] ^ (seed * MIX2));
            uint32_t bin = (uint32_t)(((g >> 32) * (uint64_t)num_perm) >> 32);
            uint32_t value = (uint32_t)(g & 0xFFFFFFFEull);
            if (value < sig[bin]) sig[bin] = value;
        }
        /* optimal densification: an empty bin copies the first filled bin of its probe sequence */
        if (m > 0) {
            memcpy(dense, sig, (size_t)num_perm * 4);
            for (int j = 0; j < num_perm; j++) {
                if (sig[j] != 0xFFFFFFFFu) continue;
                for (uint64_t a = 1;; a++) {
                    Py_ssize_t src = probe(j, a, num_perm, seed);
                    if (sig[src] != 0xFFFFFFFFu) { dense[j] = sig[src]; break; }
                }
            }
        } else {
            memcpy(dense, sig, (size_t)num_perm * 4);
        }
        for (int band = 0; band < n_bands; band++) {
            uint64_t h = (uint64_t)(band + 1) * GOLDEN;
            for (int r = 0; r < rows; r++) h = mix64(h ^ (uint64_t)dense[band * rows + r]);
            bands[i * n_bands + band] = (uint32_t)h;
        }
    }
    goto sign_done;
sign_failed:
    failed = 1;
sign_done:
    PyEval_RestoreThread(unlocked);
    if (failed) goto done;
    result = bytes_tuple(4, sizes, (Py_ssize_t)(n * 8), bands, (Py_ssize_t)(n * n_bands * 4), a_owner, (Py_ssize_t)(n_anchor * 4), a_value, (Py_ssize_t)(n_anchor * 4));
done:
    free(sizes); free(bands); free(sig); free(dense); free(a_owner); free(a_value);
    free(hashes.data); free(ids_buf.data); free(seen.table.data); free(cps.data);
    keyview_release(&kv, got);
    return result;
}

/* shingle_sets(data, offsets, ids, k, dense_k, seed) -> (sorted distinct ids uint64, offsets int64) */
static PyObject *shingle_sets(PyObject *self, PyObject *args) {
    PyObject *data, *offsets, *ids;
    int k, dense_k;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OOOiiK", &data, &offsets, &ids, &k, &dense_k, &seed)) return NULL;
    if (k < 1) {
        PyErr_SetString(PyExc_ValueError, "shingle_sets: k must be at least 1");
        return NULL;
    }
    keyview kv;
    int got = keyview_open(&kv, data, offsets, ids);
    if (got < 0) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = kv.n_keys;
    int64_t *out_off = malloc((size_t)(n + 1) * 8);
    u64buf hashes = {0}, out = {0};
    cpbuf cps = {0};
    if (!out_off) { PyErr_NoMemory(); goto done; }
    out_off[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t s = kv.id ? kv.id[i] : i;
        if (decode_utf8(kv.bytes + kv.off[s], kv.off[s + 1] - kv.off[s], &cps) < 0) goto done;
        hashes.len = 0;
        Py_ssize_t m = key_shingles(cps.data, cps.len, k, dense_k, seed, &hashes);
        if (m < 0 || u64_reserve(&out, out.len + m + 1) < 0) goto done;
        out.len += distinct_ids(hashes.data, m, out.data + out.len);
        out_off[i + 1] = out.len;
    }
    result = bytes_tuple(2, out.data, (Py_ssize_t)(out.len * 8), out_off, (Py_ssize_t)((n + 1) * 8));
done:
    free(out_off); free(hashes.data); free(out.data); free(cps.data);
    keyview_release(&kv, got);
    return result;
}

/* intersections(ids uint64, offsets int64, a int64, b int64) -> int64 |A_i & B_i| per pair */
static PyObject *intersections(PyObject *self, PyObject *args) {
    PyObject *ids, *offsets, *a, *b;
    if (!PyArg_ParseTuple(args, "OOOO", &ids, &offsets, &a, &b)) return NULL;
    Py_buffer vi, vo, va, vb;
    if (buffer_of(ids, &vi, 8, "ids") < 0) return NULL;
    if (buffer_of(offsets, &vo, 8, "offsets") < 0) { PyBuffer_Release(&vi); return NULL; }
    if (buffer_of(a, &va, 8, "a") < 0) { PyBuffer_Release(&vi); PyBuffer_Release(&vo); return NULL; }
    if (buffer_of(b, &vb, 8, "b") < 0) { PyBuffer_Release(&vi); PyBuffer_Release(&vo); PyBuffer_Release(&va); return NULL; }
    PyObject *result = NULL;
    const uint64_t *h = vi.buf;
    const int64_t *off = vo.buf, *pa = va.buf, *pb = vb.buf;
    Py_ssize_t n_sets = vo.len / 8 - 1, n = va.len / 8;
    int64_t *out = NULL;
    if (vb.len != va.len) { PyErr_SetString(PyExc_ValueError, "intersections: a and b differ in length"); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (pa[i] < 0 || pa[i] >= n_sets || pb[i] < 0 || pb[i] >= n_sets) {
            PyErr_SetString(PyExc_IndexError, "intersections: set index out of range");
            goto done;
        }
    }
    for (Py_ssize_t s = 0; s < n_sets; s++) {
        if (off[s] < 0 || off[s + 1] < off[s] || off[s + 1] > vi.len / 8) {
            PyErr_SetString(PyExc_ValueError, "intersections: offsets do not fit the ids");
            goto done;
        }
    }
    out = malloc((size_t)(n ? n : 1) * 8);
    if (!out) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint64_t *x = h + off[pa[i]], *xe = h + off[pa[i] + 1];
        const uint64_t *y = h + off[pb[i]], *ye = h + off[pb[i] + 1];
        int64_t common = 0;
        while (x < xe && y < ye) {
            if (*x < *y) x++;
            else if (*y < *x) y++;
            else { common++; x++; y++; }
        }
        out[i] = common;
    }
    result = bytes_of(out, n * 8);
done:
    free(out);
    PyBuffer_Release(&vi); PyBuffer_Release(&vo); PyBuffer_Release(&va); PyBuffer_Release(&vb);
    return result;
}


/* ---- whole documents ------------------------------------------------------------------------ */

GROWABLE(bytebuf, char, 4096)
#define bb_reserve bytebuf_reserve

static int bb_put_utf8(bytebuf *b, const cpbuf *cps) {
    if (bb_reserve(b, b->len + 4 * cps->len + 1) < 0) return -1;
    unsigned char *o = (unsigned char *)b->data + b->len;
    for (Py_ssize_t i = 0; i < cps->len; i++) {
        uint32_t c = cps->data[i];
        if (c < 0x80) *o++ = (unsigned char)c;
        else if (c < 0x800) { *o++ = 0xC0 | (c >> 6); *o++ = 0x80 | (c & 0x3F); }
        else if (c < 0x10000) { *o++ = 0xE0 | (c >> 12); *o++ = 0x80 | ((c >> 6) & 0x3F); *o++ = 0x80 | (c & 0x3F); }
        else { *o++ = 0xF0 | (c >> 18); *o++ = 0x80 | ((c >> 12) & 0x3F); *o++ = 0x80 | ((c >> 6) & 0x3F); *o++ = 0x80 | (c & 0x3F); }
    }
    b->len = (Py_ssize_t)((char *)o - b->data);
    return 0;
}

/* append a str's UTF-8 (a key the Python path made) and return its length in characters */
static Py_ssize_t bb_put_str(bytebuf *b, PyObject *key) {
    if (!PyUnicode_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "a normalizer returned something that is not a str");
        return -1;
    }
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(key, &size);
    if (!utf8 || bb_reserve(b, b->len + size) < 0) return -1;
    memcpy(b->data + b->len, utf8, (size_t)size);
    b->len += size;
    return PyUnicode_GET_LENGTH(key);
}

/* ``convert`` (the script fold) applied to the code points ``cur``, the result into ``into``;
 * -1 on error. Called with the interpreter lock held. */
static int convert_script(PyObject *convert, const cpbuf *cur, cpbuf *into) {
    PyObject *mid = as_str(cur);
    if (!mid) return -1;
    PyObject *converted = PyObject_CallOneArg(convert, mid);
    Py_DECREF(mid);
    if (!converted) return -1;
    if (!PyUnicode_Check(converted)) {
        Py_DECREF(converted);
        PyErr_SetString(PyExc_TypeError, "the script converter returned something that is not a str");
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(converted);
    int kind = PyUnicode_KIND(converted);
    const void *data = PyUnicode_DATA(converted);
    if (cp_reserve(into, n + 1) < 0) { Py_DECREF(converted); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) into->data[i] = PyUnicode_READ(kind, data, i);
    into->len = n;
    Py_DECREF(converted);
    return 0;
}

/* The key of text[from:to], the one pipeline of both entry points: 0 with the key in *key
 * (``a`` or ``b``, the caller's two work buffers), 1 when the text needs the Python path, -1 on
 * error. ``convert`` is the script fold (OpenCC's t2s as the reference calls it), for a text
 * the character table cannot convert. It may run without the interpreter lock: the call of
 * ``convert`` takes it (PyGILState_Ensure, a no-op for a caller that holds it). */
static int compute_key(PyObject *text, Py_ssize_t from, Py_ssize_t to, PyObject *convert, cpbuf *a, cpbuf *b, const cpbuf **key) {
    cpbuf *cur = a, *other = b;
    int r = step_nfkc_range(PyUnicode_KIND(text), PyUnicode_DATA(text), from, to, cur);
    if (r != 0) return r;
    if (step_pinyin(&cur, &other) < 0) return -1;
    int folded = needs_t2s(cur);
    if (folded) {
        r = t2s_by_character(cur, other);
        if (r < 0) return -1;
        if (r == 0) {
            cpbuf *t = cur; cur = other; other = t;
        } else {
            PyGILState_STATE gil = PyGILState_Ensure();
            r = convert_script(convert, cur, a);
            PyGILState_Release(gil);
            if (r < 0) return -1;
            cur = a;
            other = b;
        }
    }
    r = steps_after_script(cur, other, folded);
    if (r == 0) *key = other;
    return r;
}

/* the key of text[from:to] into ``out``, by the reference ``fallback`` where the tables cannot
 * make it; returns its length in characters, -1 on error */
static Py_ssize_t document_key(PyObject *text, Py_ssize_t from, Py_ssize_t to, PyObject *convert, PyObject *fallback, cpbuf *a, cpbuf *b,
                               bytebuf *out) {
    const cpbuf *key;
    int r = compute_key(text, from, to, convert, a, b, &key);
    if (r < 0) return -1;
    if (r == 0) {
        if (bb_put_utf8(out, key) < 0) return -1;
        return key->len;
    }
    PyGILState_STATE gil = PyGILState_Ensure();  /* the reference normalizer, under the lock */
    Py_ssize_t chars = -1;
    PyObject *piece = PyUnicode_Substring(text, from, to);
    PyObject *made = piece ? PyObject_CallOneArg(fallback, piece) : NULL;
    Py_XDECREF(piece);
    if (made) chars = bb_put_str(out, made);
    Py_XDECREF(made);
    PyGILState_Release(gil);
    return chars;
}

/* normalize_key(text, convert) -> the key of one text, or None when it needs the Python path */
static PyObject *normalize_key(PyObject *self, PyObject *args) {
    PyObject *text, *convert;
    if (!PyArg_ParseTuple(args, "UO", &text, &convert)) return NULL;
    if (check_tables() < 0) return NULL;
    const cpbuf *key;
    int r = compute_key(text, 0, PyUnicode_GET_LENGTH(text), convert, &BUF_A, &BUF_B, &key);
    if (r < 0) return NULL;
    if (r > 0) Py_RETURN_NONE;
    return as_str(key);
}

/* normalize_spans(text, starts, ends, convert, fallback) -> (keys UTF-8, key byte ends int64,
 * key lengths in characters int64): the key of every paragraph text[starts[i]:ends[i]].
 * ``convert`` is the script fold (OpenCC's t2s, called as the reference calls it) and
 * ``fallback`` the reference normalizer, for paragraphs the tables cannot do. */
static PyObject *normalize_spans(PyObject *self, PyObject *args) {
    PyObject *text, *starts, *ends, *convert, *fallback;
    if (!PyArg_ParseTuple(args, "UOOOO", &text, &starts, &ends, &convert, &fallback)) return NULL;
    if (check_tables() < 0) return NULL;
    Py_buffer vs, ve;
    if (buffer_of(starts, &vs, 8, "starts") < 0) return NULL;
    if (buffer_of(ends, &ve, 8, "ends") < 0) { PyBuffer_Release(&vs); return NULL; }
    PyObject *result = NULL;
    Py_ssize_t n = vs.len / 8, length = PyUnicode_GET_LENGTH(text);
    const int64_t *s = vs.buf, *e = ve.buf;
    int64_t *key_ends = NULL, *key_chars = NULL;
    bytebuf out = {0};
    if (ve.len != vs.len) { PyErr_SetString(PyExc_ValueError, "normalize_spans: starts and ends differ in length"); goto done; }
    key_ends = malloc((size_t)(n ? n : 1) * 8);
    key_chars = malloc((size_t)(n ? n : 1) * 8);
    if (!key_ends || !key_chars) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < 0 || e[i] < s[i] || e[i] > length) { PyErr_SetString(PyExc_IndexError, "normalize_spans: span out of range"); goto done; }
    }
    {
        /* the keys are made without the interpreter lock (the read stage's threads normalize
         * their documents at once); the rare paragraph that needs Python takes it back */
        cpbuf a = {0}, b = {0};
        int failed = 0;
        PyThreadState *unlocked = PyEval_SaveThread();
        for (Py_ssize_t i = 0; i < n && !failed; i++) {
            Py_ssize_t chars = document_key(text, s[i], e[i], convert, fallback, &a, &b, &out);
            if (chars < 0) failed = 1;
            else {
                key_ends[i] = out.len;
                key_chars[i] = chars;
            }
        }
        PyEval_RestoreThread(unlocked);
        free(a.data);
        free(b.data);
        if (failed) goto done;
    }
    result = bytes_tuple(3, out.data, (Py_ssize_t)out.len, key_ends, (Py_ssize_t)(n * 8), key_chars, (Py_ssize_t)(n * 8));
done:
    free(key_ends); free(key_chars); free(out.data);
    PyBuffer_Release(&vs); PyBuffer_Release(&ve);
    return result;
}

/* ---- auto split: the rules of paragraphs.auto_groups, function for function ---- */

#define WRAP_MIN 40
#define WRAP_MAX 100
#define NEAR_FULL 85
#define TAB 8

static const uint32_t WIDE_RANGES[][2] = {
    {0x1100, 0x115F}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xA000, 0xA4CF},
    {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE30, 0xFE4F}, {0xFF00, 0xFF60}, {0xFFE0, 0xFFE6}, {0x20000, 0x3FFFD}};
static const uint32_t SENTENCE_END[] = {'.', '!', '?', 0x2026, ':', 0x3002, 0xFF01, 0xFF1F, 0xFF1A, 0};
static const uint32_t OPEN_END[] = {',', 0xFF0C, 0x3001, '-', 0};
static const uint32_t BULLETS[] = {'-', '*', 0x2022, 0xB7, '+', '>', '#', 0x2013, 0x2014, '=', 0};
static const uint32_t MARKS[] = {'*', '#', '>', '|', '/', ';', '%', '-', '+', '=', '!', '~', 0x2022, 0xB7, 0};
static const uint32_t NUMERALS[] = {0x4E00, 0x4E8C, 0x4E09, 0x56DB, 0x4E94, 0x516D, 0x4E03, 0x516B, 0x4E5D, 0x5341, 0x767E, 0};

static int in_set(uint32_t c, const uint32_t *set) {
    for (; *set; set++)
        if (*set == c) return 1;
    return 0;
}

static int wide_char(uint32_t c) {
    for (size_t i = 0; i < sizeof WIDE_RANGES / sizeof WIDE_RANGES[0]; i++)
        if (c >= WIDE_RANGES[i][0] && c <= WIDE_RANGES[i][1]) return 1;
    return 0;
}

typedef struct {
    int kind;
    const void *data;
} utext;

#define AT(t, i) ((uint32_t)PyUnicode_READ((t).kind, (t).data, (i)))

/* paragraphs.columns */
static int64_t text_columns(utext t, Py_ssize_t a, Py_ssize_t b) {
    int64_t w = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        uint32_t c = AT(t, i);
        w = c == '\t' ? (w / TAB + 1) * TAB : w + (wide_char(c) ? 2 : 1);
    }
    return w;
}

/* paragraphs._marker: the end of the marker (its length in *len), or -1 */
static Py_ssize_t line_marker(utext t, Py_ssize_t begin, Py_ssize_t end, Py_ssize_t *at, Py_ssize_t *len) {
    Py_ssize_t i = begin;
    while (i < end && Py_UNICODE_ISSPACE(AT(t, i))) i++;
    Py_ssize_t j = i;
    while (j < end && j - i < 3 && in_set(AT(t, j), MARKS)) j++;
    if (j == i || (j < end && !Py_UNICODE_ISSPACE(AT(t, j)))) return -1;
    *at = i;
    *len = j - i;
    return j;
}

static int is_field(utext t, Py_ssize_t a, Py_ssize_t b) {
    uint32_t c = AT(t, a);
    if (!Py_UNICODE_ISALPHA(c) || Py_UNICODE_ISLOWER(c)) return 0;
    Py_ssize_t j = a + 1;
    while (j < b && (Py_UNICODE_ISALNUM(AT(t, j)) || AT(t, j) == '-' || AT(t, j) == '_')) j++;
    return j < b && (AT(t, j) == ':' || AT(t, j) == 0xFF1A) && (j + 1 == b || Py_UNICODE_ISSPACE(AT(t, j + 1)));
}

static int is_list_item(utext t, Py_ssize_t a, Py_ssize_t b) {
    uint32_t c0 = AT(t, a);
    if (in_set(c0, BULLETS)) {
        Py_ssize_t j = a + 1;
        while (j < b && j - a < 3 && AT(t, j) == c0) j++;
        return j < b && Py_UNICODE_ISSPACE(AT(t, j));
    }
    Py_ssize_t j = a + (c0 == '(' || c0 == 0xFF08), k = j;
    if (k < b && Py_UNICODE_ISDECIMAL(AT(t, k))) {
        while (k < b && k - j < 3 && Py_UNICODE_ISDECIMAL(AT(t, k))) k++;
    } else if (k < b && in_set(AT(t, k), NUMERALS)) {
        while (k < b && in_set(AT(t, k), NUMERALS)) k++;
    } else if (k < b && AT(t, k) < 128 && Py_UNICODE_ISALPHA(AT(t, k))) {
        k++;
    }
    if (k == j || k >= b) return 0;
    uint32_t close = AT(t, k);
    if (close == '.' || close == ')') return k + 1 < b && Py_UNICODE_ISSPACE(AT(t, k + 1));
    return close == 0xFF09 || close == 0x3001 || close == 0xFF0E;
}

static int has_word(utext t, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t i = a; i < b; i++)
        if (Py_UNICODE_ISALNUM(AT(t, i))) return 1;
    return 0;
}

static int starts_unit(utext t, Py_ssize_t a, Py_ssize_t b) {
    return !has_word(t, a, b) || is_field(t, a, b) || is_list_item(t, a, b);
}

static int is_wordy(utext t, Py_ssize_t a, Py_ssize_t b) {
    for (Py_ssize_t i = a; i < b; i++) {
        uint32_t c = AT(t, i);
        if (Py_UNICODE_ISSPACE(c) || wide_char(c)) return 1;
    }
    return 0;
}

/* columns of paragraphs._first_word */
static int64_t first_word_columns(utext t, Py_ssize_t a, Py_ssize_t b) {
    int64_t w = 0;
    for (Py_ssize_t i = a; i < b; i++) {
        uint32_t c = AT(t, i);
        if (Py_UNICODE_ISSPACE(c)) break;
        if (wide_char(c)) return w + 2;
        w++;
    }
    return w;
}

/* the k-th (0-based) whitespace-separated word of [a, b): its span, or 0 when there is none */
static int nth_word(utext t, Py_ssize_t a, Py_ssize_t b, int k, Py_ssize_t *ws, Py_ssize_t *we) {
    Py_ssize_t i = a;
    for (int n = 0;; n++) {
        while (i < b && Py_UNICODE_ISSPACE(AT(t, i))) i++;
        if (i >= b) return 0;
        Py_ssize_t s = i;
        while (i < b && !Py_UNICODE_ISSPACE(AT(t, i))) i++;
        if (n == k) { *ws = s; *we = i; return 1; }
    }
}

static int same_span(utext t, Py_ssize_t a, Py_ssize_t ae, Py_ssize_t b, Py_ssize_t be) {
    if (ae - a != be - b) return 0;
    for (Py_ssize_t i = 0; i < ae - a; i++)
        if (AT(t, a + i) != AT(t, b + i)) return 0;
    return 1;
}

/* paragraphs._parallel */
static int parallel_lines(utext t, Py_ssize_t a, Py_ssize_t ae, Py_ssize_t b, Py_ssize_t be) {
    Py_ssize_t xs, xe, ys, ye;
    if (!nth_word(t, a, ae, 0, &xs, &xe) || !nth_word(t, b, be, 0, &ys, &ye) || !same_span(t, xs, xe, ys, ye)) return 0;
    if (!Py_UNICODE_ISLOWER(AT(t, xs))) {
        int alpha = 1, upper = 0, lower_or_title = 0;
        for (Py_ssize_t i = xs; i < xe; i++) {
            uint32_t c = AT(t, i);
            alpha &= Py_UNICODE_ISALPHA(c) != 0;
            upper |= Py_UNICODE_ISUPPER(c) != 0;
            lower_or_title |= Py_UNICODE_ISLOWER(c) || Py_UNICODE_ISTITLE(c);
        }
        if (!(alpha && upper && !lower_or_title)) return 1;
    }
    int hx = nth_word(t, a, ae, 1, &xs, &xe), hy = nth_word(t, b, be, 1, &ys, &ye);
    return hx == hy && (!hx || same_span(t, xs, xe, ys, ye));
}

static int cmp_desc_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

typedef struct {
    Py_ssize_t *bs, *be;  /* body span of every line of the block */
    Py_ssize_t *mat, *mlen;  /* where every line's marker starts, and its length */
    int64_t *ends;        /* display column one past the last non-space character */
    char *wordy, *narrow, *full, *wrap;
    int64_t *widths;
} autobuf;

/* paragraphs._wraps over the lines [r, r + n) of a block: wrap[i] for the break after line r + i */
static void run_wraps(utext t, autobuf *w, Py_ssize_t r, Py_ssize_t n) {
    Py_ssize_t nw = 0, n_wordy = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        w->wordy[i] = (char)is_wordy(t, w->bs[r + i], w->be[r + i]);
        w->narrow[i] = w->ends[r + i] <= WRAP_MAX || !w->wordy[i];
    }
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        w->wrap[i] = 0;
        n_wordy += w->wordy[i];
        if (w->wordy[i] && w->narrow[i]) w->widths[nw++] = w->ends[r + i];
    }
    if (!nw || 2 * nw < n_wordy) return;
    qsort(w->widths, (size_t)nw, sizeof(int64_t), cmp_desc_i64);
    int64_t width = w->widths[(nw - 1) / 4];
    if (width < WRAP_MIN) return;
    Py_ssize_t n_full = 0, n_ending = 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        Py_ssize_t cur_end = w->be[r + i], nxt = w->bs[r + i + 1];
        uint32_t last = AT(t, cur_end - 1), first = AT(t, nxt);
        int64_t gap = wide_char(last) || wide_char(first) ? 0 : 1;
        int64_t fw = first_word_columns(t, nxt, w->be[r + i + 1]);
        int64_t e = w->ends[r + i];
        w->full[i] = e + gap + fw > width || (!wide_char(first) && 100 * e >= NEAR_FULL * width);
        n_full += w->full[i] && w->narrow[i] && w->narrow[i + 1] && w->wordy[i];
        n_ending += w->wordy[i] && in_set(last, SENTENCE_END);
    }
    int attested = n_full >= 2, sentences = 2 * n_ending > n_wordy;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        Py_ssize_t cs = w->bs[r + i], ce = w->be[r + i], ns = w->bs[r + i + 1], ne = w->be[r + i + 1];
        if (!(w->narrow[i] && w->narrow[i + 1] && w->wordy[i]) || parallel_lines(t, cs, ce, ns, ne)) continue;
        uint32_t last = AT(t, ce - 1);
        int goes_on = !wide_char(last) && !in_set(last, SENTENCE_END) && Py_UNICODE_ISLOWER(AT(t, ns));
        if (attested) {
            int inside = !sentences && i + 2 < n && w->full[i + 1];
            int ends_open = Py_UNICODE_ISALNUM(last) || in_set(last, OPEN_END);
            w->wrap[i] = (char)(goes_on || (w->full[i] && (ends_open || inside)));
        } else {
            int lower_end = Py_UNICODE_ISLOWER(last) ||
                            ((last == ',' || last == '-') && ce - cs > 1 && !wide_char(AT(t, ce - 2)));
            w->wrap[i] = (char)(goes_on || (w->full[i] && lower_end));
        }
    }
}

/* paragraphs.auto_groups over the block of lines [l0, l1): (first line, last line) of each
 * paragraph, appended to groups (two int64 each); returns the new count */
static Py_ssize_t block_groups(utext t, const int64_t *begin, const int64_t *span, Py_ssize_t l0, Py_ssize_t l1,
                               autobuf *w, int64_t *groups, Py_ssize_t g) {
    Py_ssize_t n = l1 - l0;
    for (Py_ssize_t i = 0; i < n; i++)  /* the marker of every line: w->be holds where it ends, -1 for none */
        w->be[i] = line_marker(t, begin[l0 + i], span[2 * (l0 + i) + 1], &w->mat[i], &w->mlen[i]);
    for (Py_ssize_t i = 0; i < n; i++) {
        /* a marker that the line before or after repeats is a prefix */
        int shared = 0;
        for (Py_ssize_t j = i - 1; j <= i + 1 && w->be[i] >= 0; j += 2)
            if (j >= 0 && j < n && w->be[j] >= 0 && same_span(t, w->mat[i], w->mat[i] + w->mlen[i], w->mat[j], w->mat[j] + w->mlen[j]))
                shared = 1;
        Py_ssize_t end = span[2 * (l0 + i) + 1], bs = span[2 * (l0 + i)];
        if (shared) {
            bs = w->be[i];
            while (bs < end && Py_UNICODE_ISSPACE(AT(t, bs))) bs++;
        }
        w->bs[i] = bs;
        w->ends[i] = end;  /* kept here until every marker is read */
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t end = w->ends[i];
        w->be[i] = end;
        w->ends[i] = text_columns(t, begin[l0 + i], end);
    }
    Py_ssize_t r = 0;
    while (r < n) {
        Py_ssize_t e = r + 1;  /* the run [r, e) */
        while (e < n && !starts_unit(t, w->bs[e], w->be[e]) && has_word(t, w->bs[e - 1], w->be[e - 1])) e++;
        Py_ssize_t m = e - r, first = -1, last = -1, count = 0;
        if (m > 1) {
            run_wraps(t, w, r, m);
            for (Py_ssize_t k = 0; k + 1 < m; k++)
                if (w->wrap[k]) { if (first < 0) first = k; last = k; }
            if (first >= 0)
                for (Py_ssize_t k = first; k <= last; k++) count += w->wrap[k];
        }
        if (first < 0 || 2 * count < last + 1 - first) {
            for (Py_ssize_t k = r; k < e; k++) { groups[2 * g] = l0 + k; groups[2 * g + 1] = l0 + k; g++; }
        } else {
            for (Py_ssize_t k = 0; k < first; k++) { groups[2 * g] = groups[2 * g + 1] = l0 + r + k; g++; }
            groups[2 * g] = groups[2 * g + 1] = l0 + r + first;
            g++;
            for (Py_ssize_t k = first; k <= last; k++) {
                int wide_k = !w->narrow[k], wide_next = !w->narrow[k + 1];  /* wider than a wrap */
                if (w->wrap[k] || !(wide_k || wide_next)) groups[2 * g - 1] = l0 + r + k + 1;
                else { groups[2 * g] = groups[2 * g + 1] = l0 + r + k + 1; g++; }
            }
            for (Py_ssize_t k = last + 2; k < m; k++) { groups[2 * g] = groups[2 * g + 1] = l0 + r + k; g++; }
        }
        r = e;
    }
    return g;
}

/* paragraph_spans(text, mode) -> int64 rows (line_start, line_end, char_start, char_end), as
 * paragraphs.paragraph_spans: mode 0 auto, 1 lines, 2 blocks. */
/* The paragraphs of a text as rows (line_start, line_end, char_start, char_end), into *rows
 * (malloc'd, the caller frees it); returns their number, -1 when out of memory (no exception
 * set: the caller may not hold the interpreter lock). Allocates nothing Python. */
static Py_ssize_t split_text(utext t, Py_ssize_t n, int mode, int64_t **rows) {
    Py_ssize_t lines = 1;
    for (Py_ssize_t i = 0; i < n; i++) lines += AT(t, i) == '\n';
    size_t nl = (size_t)lines;
    int64_t *span = malloc(nl * 16);    /* start, end of every line's content */
    int64_t *begin = malloc(nl * 8);    /* offset of every line's first character */
    int64_t *groups = malloc(nl * 16);  /* first and last line of every paragraph */
    int64_t *out = malloc(nl * 32);
    autobuf w = {malloc(nl * sizeof(Py_ssize_t)), malloc(nl * sizeof(Py_ssize_t)), malloc(nl * sizeof(Py_ssize_t)),
                 malloc(nl * sizeof(Py_ssize_t)), malloc(nl * 8), malloc(nl), malloc(nl), malloc(nl), malloc(nl), malloc(nl * 8)};
    Py_ssize_t g = -1;
    if (!span || !begin || !groups || !out || !w.bs || !w.be || !w.mat || !w.mlen || !w.ends || !w.wordy || !w.narrow || !w.full || !w.wrap ||
        !w.widths) {
        free(out);
        out = NULL;
        goto done;
    }
    Py_ssize_t line = 0, from = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i < n && AT(t, i) != '\n') continue;
        Py_ssize_t a = from, b = i;
        while (a < b && Py_UNICODE_ISSPACE(AT(t, a))) a++;
        while (b > a && Py_UNICODE_ISSPACE(AT(t, b - 1))) b--;
        begin[line] = from;
        span[2 * line] = a;
        span[2 * line + 1] = b;
        line++;
        from = i + 1;
    }
    g = 0;
    for (Py_ssize_t l = 0; l < line; l++) {
        if (span[2 * l] == span[2 * l + 1]) continue;
        Py_ssize_t e = l + 1;  /* the block [l, e) */
        while (e < line && span[2 * e] < span[2 * e + 1]) e++;
        if (mode == 0) g = block_groups(t, begin, span, l, e, &w, groups, g);
        else if (mode == 2) { groups[2 * g] = l; groups[2 * g + 1] = e - 1; g++; }
        else for (Py_ssize_t k = l; k < e; k++) { groups[2 * g] = groups[2 * g + 1] = k; g++; }
        l = e - 1;
    }
    for (Py_ssize_t k = 0; k < g; k++) {
        out[4 * k] = groups[2 * k] + 1;
        out[4 * k + 1] = groups[2 * k + 1] + 1;
        out[4 * k + 2] = span[2 * groups[2 * k]];
        out[4 * k + 3] = span[2 * groups[2 * k + 1] + 1];
    }
done:
    *rows = out;
    free(span); free(begin); free(groups);
    free(w.bs); free(w.be); free(w.mat); free(w.mlen); free(w.ends); free(w.wordy); free(w.narrow); free(w.full); free(w.wrap); free(w.widths);
    return g;
}

static PyObject *paragraph_spans(PyObject *self, PyObject *args) {
    PyObject *text;
    int mode;
    if (!PyArg_ParseTuple(args, "Ui", &text, &mode)) return NULL;
    if (mode < 0 || mode > 2) { PyErr_SetString(PyExc_ValueError, "paragraph_spans: mode is 0, 1 or 2"); return NULL; }
    utext t = {PyUnicode_KIND(text), PyUnicode_DATA(text)};
    int64_t *rows;
    Py_ssize_t g;
    Py_BEGIN_ALLOW_THREADS  /* the lines are grouped without the interpreter lock */
    g = split_text(t, PyUnicode_GET_LENGTH(text), mode, &rows);
    Py_END_ALLOW_THREADS
    PyObject *result = g < 0 ? PyErr_NoMemory() : bytes_of(rows, g * 32);
    free(rows);
    return result;
}

/* ---- UTF-8 to str without the interpreter lock ---------------------------------------- */

#define DECODE_UNLOCKED_BYTES (256 * 1024)

/* The length in code points and the largest code point of well-formed UTF-8 (Unicode's table
 * 3-7, what Python's strict decoder accepts); -1 at the first ill-formed sequence. */
static Py_ssize_t utf8_measure(const unsigned char *p, Py_ssize_t len, uint32_t *maxchar) {
    Py_ssize_t n = 0, i = 0;
    uint32_t top = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c > top) top = c;
            i++;
        } else {
            int extra;
            unsigned char lo = 0x80, hi = 0xBF;
            uint32_t cp;
            if (c >= 0xC2 && c <= 0xDF) { extra = 1; cp = c & 0x1F; }
            else if (c >= 0xE0 && c <= 0xEF) { extra = 2; cp = c & 0x0F; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
            else if (c >= 0xF0 && c <= 0xF4) { extra = 3; cp = c & 0x07; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
            else return -1;
            if (i + extra >= len) return -1;  /* cut short */
            for (int k = 1; k <= extra; k++) {
                unsigned char d = p[i + k];
                if (k == 1 ? (d < lo || d > hi) : (d < 0x80 || d > 0xBF)) return -1;
                cp = (cp << 6) | (d & 0x3F);
            }
            if (cp > top) top = cp;
            i += extra + 1;
        }
        n++;
    }
    *maxchar = top;
    return n;
}

/* the code points of well-formed UTF-8 into a str's buffer of the given kind */
static void utf8_fill(const unsigned char *p, Py_ssize_t len, int kind, void *data) {
    Py_ssize_t i = 0, j = 0;
    while (i < len) {
        unsigned char c = p[i];
        uint32_t cp;
        if (c < 0x80) { cp = c; i++; }
        else if (c < 0xE0) { cp = ((uint32_t)(c & 0x1F) << 6) | (p[i + 1] & 0x3F); i += 2; }
        else if (c < 0xF0) { cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F); i += 3; }
        else { cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[i + 1] & 0x3F) << 12) | ((uint32_t)(p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F); i += 4; }
        PyUnicode_WRITE(kind, data, j, cp);
        j++;
    }
}

/* decode_utf8(data) -> str, or None when ``data`` is not well-formed UTF-8 (the caller's strict
 * decode then says why). bytes.decode holds the interpreter lock throughout; this measures and
 * fills without it, so the read stage's threads decode their files at once. */
static PyObject *decode_utf8_text(PyObject *self, PyObject *arg) {
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0) return NULL;
    uint32_t maxchar = 0;
    Py_ssize_t n;
    /* a small text is decoded holding the lock: taking it back after letting go can wait
     * longer, behind the other threads, than decoding takes */
    int unlock = v.len >= DECODE_UNLOCKED_BYTES;
    PyThreadState *unlocked = unlock ? PyEval_SaveThread() : NULL;
    n = utf8_measure(v.buf, v.len, &maxchar);
    if (unlock) PyEval_RestoreThread(unlocked);
    PyObject *text = NULL;
    if (n < 0) {
        text = Py_None;
        Py_INCREF(text);
    } else if ((text = PyUnicode_New(n, maxchar)) != NULL) {
        int kind = PyUnicode_KIND(text);
        void *data = PyUnicode_DATA(text);
        unlocked = unlock ? PyEval_SaveThread() : NULL;  /* a str no one else holds yet */
        utf8_fill(v.buf, v.len, kind, data);
        if (unlock) PyEval_RestoreThread(unlocked);
    }
    PyBuffer_Release(&v);
    return text;
}

/* ---- a whole document at once: split, normalize, fingerprint ------------------------------ */

/* XXH3-128 as the xxhash package computes it (its extension module exports the function; the
 * Python side hands over its address with set_hasher). Two 64-bit halves, returned in registers. */
typedef struct { uint64_t low64, high64; } xxh128;
typedef xxh128 (*xxh3_128_fn)(const void *data, size_t len);
static xxh3_128_fn XXH3_128 = NULL;

static PyObject *set_hasher(PyObject *self, PyObject *arg) {
    unsigned long long address = PyLong_AsUnsignedLongLong(arg);
    if (PyErr_Occurred()) return NULL;
    XXH3_128 = (xxh3_128_fn)(uintptr_t)address;
    Py_RETURN_NONE;
}

/* xxhash's xxh3_128_digest: the canonical form, high half then low half, each big-endian */
static void fingerprint_into(const char *data, Py_ssize_t len, unsigned char *out) {
    xxh128 h = XXH3_128(data, (size_t)len);
    for (int k = 0; k < 8; k++) {
        out[k] = (unsigned char)(h.high64 >> (56 - 8 * k));
        out[8 + k] = (unsigned char)(h.low64 >> (56 - 8 * k));
    }
}

/* prepare_text(text, mode, convert, fallback, shortest) -> (spans, keys UTF-8, key byte ends,
 * fingerprints): what local.prepare_document makes of a document on the Python path, in one call
 * and without the interpreter lock but for the rare paragraph the reference normalizes. ``spans``
 * are int64 rows (idx, line_start, line_end, char_start, char_end, key length in characters);
 * a key under ``shortest`` characters gets 16 zero bytes as its fingerprint. */
static PyObject *prepare_text(PyObject *self, PyObject *args) {
    PyObject *text, *convert, *fallback;
    int mode;
    Py_ssize_t shortest;
    if (!PyArg_ParseTuple(args, "UiOOn", &text, &mode, &convert, &fallback, &shortest)) return NULL;
    if (mode < 0 || mode > 2) { PyErr_SetString(PyExc_ValueError, "prepare_text: mode is 0, 1 or 2"); return NULL; }
    if (!XXH3_128) { PyErr_SetString(PyExc_RuntimeError, "prepare_text: no hasher (set_hasher)"); return NULL; }
    if (check_tables() < 0) return NULL;
    utext t = {PyUnicode_KIND(text), PyUnicode_DATA(text)};
    int64_t *rows = NULL, *spans = NULL, *key_ends = NULL;
    unsigned char *fps = NULL;
    bytebuf out = {0};
    cpbuf a = {0}, b = {0};
    PyObject *result = NULL;
    int failed = 0;
    PyThreadState *unlocked = PyEval_SaveThread();
    Py_ssize_t n = split_text(t, PyUnicode_GET_LENGTH(text), mode, &rows);
    size_t room = (size_t)(n > 0 ? n : 1);
    spans = malloc(room * 48);
    key_ends = malloc(room * 8);
    fps = calloc(room, 16);
    if (n < 0 || !spans || !key_ends || !fps) { fail_no_memory(); failed = 1; }
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        Py_ssize_t start = out.len;
        Py_ssize_t chars = document_key(text, rows[4 * i + 2], rows[4 * i + 3], convert, fallback, &a, &b, &out);
        if (chars < 0) { failed = 1; break; }
        int64_t *row = spans + 6 * i;
        row[0] = i;
        memcpy(row + 1, rows + 4 * i, 32);
        row[5] = chars;
        key_ends[i] = out.len;
        if (chars >= shortest) fingerprint_into(out.data + start, out.len - start, fps + 16 * i);
    }
    PyEval_RestoreThread(unlocked);
    if (!failed)
        result = bytes_tuple(4, spans, n * 48, out.data ? out.data : "", (Py_ssize_t)out.len, key_ends, n * 8, fps, n * 16);
    free(rows); free(spans); free(key_ends); free(fps); free(out.data); free(a.data); free(b.data);
    return result;
}

/* ---- FingerprintIndex: distinct 16-byte fingerprints -> ids in order of first appearance ---- */

typedef struct {
    PyObject_HEAD
    int64_t *slots; /* id + 1 per slot, 0: empty */
    Py_ssize_t n_slots;
    unsigned char *fps; /* 16 bytes an id */
    int64_t *counts;
    Py_ssize_t n, cap;
} FingerprintIndex;

static void fpi_dealloc(FingerprintIndex *self) {
    free(self->slots); free(self->fps); free(self->counts);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *fpi_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    FingerprintIndex *self = (FingerprintIndex *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->n_slots = 1024;
    self->slots = calloc((size_t)self->n_slots, 8);
    self->cap = 512;
    self->fps = malloc((size_t)self->cap * 16);
    self->counts = malloc((size_t)self->cap * 8);
    if (!self->slots || !self->fps || !self->counts) { Py_DECREF(self); return PyErr_NoMemory(); }
    return (PyObject *)self;
}

static inline uint64_t fp_hash(const unsigned char *fp) {
    uint64_t h;
    memcpy(&h, fp, 8);
    return mix64(h);
}

static int fpi_grow(FingerprintIndex *self) {
    Py_ssize_t n_slots = self->n_slots * 2;
    int64_t *slots = calloc((size_t)n_slots, 8);
    if (!slots) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t id = 0; id < self->n; id++) {
        uint64_t pos = fp_hash(self->fps + 16 * id) & (uint64_t)(n_slots - 1);
        while (slots[pos]) pos = (pos + 1) & (uint64_t)(n_slots - 1);
        slots[pos] = id + 1;
    }
    free(self->slots);
    self->slots = slots;
    self->n_slots = n_slots;
    return 0;
}

static const unsigned char NO_FINGERPRINT[16] = {0};

/* add(fingerprints) -> int64 ids: one 16-byte fingerprint a paragraph (all zero: none, id -1);
 * a new fingerprint gets the next id; every id's count goes up by one a paragraph.
 * add_new(fingerprints) -> (ids, the positions where new ids first appear). */
static PyObject *fpi_insert(FingerprintIndex *self, PyObject *arg, int want_firsts) {
    Py_buffer v;
    if (buffer_of(arg, &v, 16, "fingerprints") < 0) return NULL;
    Py_ssize_t n = v.len / 16, n_firsts = 0;
    int64_t *ids = malloc((size_t)(n ? n : 1) * 8);
    int64_t *firsts = malloc((size_t)(n ? n : 1) * 8);
    PyObject *result = NULL;
    if (!ids || !firsts) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *fp = (const unsigned char *)v.buf + 16 * i;
        if (!memcmp(fp, NO_FINGERPRINT, 16)) { ids[i] = -1; continue; }
        if (2 * (self->n + 1) > self->n_slots && fpi_grow(self) < 0) goto done;
        uint64_t mask = (uint64_t)(self->n_slots - 1), pos = fp_hash(fp) & mask;
        int64_t id = -1;
        while (self->slots[pos]) {
            int64_t other = self->slots[pos] - 1;
            if (!memcmp(self->fps + 16 * other, fp, 16)) { id = other; break; }
            pos = (pos + 1) & mask;
        }
        if (id < 0) {
            if (self->n == self->cap) {
                Py_ssize_t cap = self->cap * 2;
                unsigned char *fps = realloc(self->fps, (size_t)cap * 16);
                if (!fps) { PyErr_NoMemory(); goto done; }
                self->fps = fps;
                int64_t *counts = realloc(self->counts, (size_t)cap * 8);
                if (!counts) { PyErr_NoMemory(); goto done; }
                self->counts = counts;
                self->cap = cap;
            }
            id = self->n++;
            memcpy(self->fps + 16 * id, fp, 16);
            self->counts[id] = 0;
            self->slots[pos] = id + 1;
            firsts[n_firsts++] = i;
        }
        self->counts[id]++;
        ids[i] = id;
    }
    if (want_firsts) {
        result = bytes_tuple(2, ids, (Py_ssize_t)(n * 8), firsts, (Py_ssize_t)(n_firsts * 8));
    } else {
        result = bytes_of(ids, n * 8);
    }
done:
    free(ids); free(firsts);
    PyBuffer_Release(&v);
    return result;
}

static PyObject *fpi_add(FingerprintIndex *self, PyObject *arg) { return fpi_insert(self, arg, 0); }
static PyObject *fpi_add_new(FingerprintIndex *self, PyObject *arg) { return fpi_insert(self, arg, 1); }

/* lookup(fingerprints) -> int64 ids, -1 for one not in the index (nothing is added) */
static PyObject *fpi_lookup(FingerprintIndex *self, PyObject *arg) {
    Py_buffer v;
    if (buffer_of(arg, &v, 16, "fingerprints") < 0) return NULL;
    Py_ssize_t n = v.len / 16;
    int64_t *ids = malloc((size_t)(n ? n : 1) * 8);
    PyObject *result = NULL;
    if (!ids) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *fp = (const unsigned char *)v.buf + 16 * i;
        uint64_t mask = (uint64_t)(self->n_slots - 1), pos = fp_hash(fp) & mask;
        ids[i] = -1;
        while (self->slots[pos]) {
            int64_t other = self->slots[pos] - 1;
            if (!memcmp(self->fps + 16 * other, fp, 16)) { ids[i] = other; break; }
            pos = (pos + 1) & mask;
        }
    }
    result = bytes_of(ids, n * 8);
done:
    free(ids);
    PyBuffer_Release(&v);
    return result;
}

static PyObject *fpi_fingerprints(FingerprintIndex *self, PyObject *unused) { return bytes_of(self->fps, self->n * 16); }
static PyObject *fpi_counts(FingerprintIndex *self, PyObject *unused) { return bytes_of(self->counts, self->n * 8); }
static Py_ssize_t fpi_len(FingerprintIndex *self) { return self->n; }

static PyMethodDef fpi_methods[] = {
    {"add", (PyCFunction)fpi_add, METH_O, "ids of a buffer of 16-byte fingerprints (new ones numbered in order)"},
    {"add_new", (PyCFunction)fpi_add_new, METH_O, "(ids, positions where new ids first appear) of a buffer of fingerprints"},
    {"lookup", (PyCFunction)fpi_lookup, METH_O, "ids of fingerprints already in the index (-1: not), adding nothing"},
    {"fingerprints", (PyCFunction)fpi_fingerprints, METH_NOARGS, "every fingerprint, 16 bytes each, in id order"},
    {"counts", (PyCFunction)fpi_counts, METH_NOARGS, "int64 number of paragraphs of every id"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods fpi_sequence = {.sq_length = (lenfunc)fpi_len};

static PyTypeObject FingerprintIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dedup._core.FingerprintIndex",
    .tp_basicsize = sizeof(FingerprintIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Distinct 16-byte fingerprints numbered in order of first appearance, with counts.",
    .tp_new = fpi_new,
    .tp_dealloc = (destructor)fpi_dealloc,
    .tp_methods = fpi_methods,
    .tp_as_sequence = &fpi_sequence,
};


/* ---- CodeIndex: band and anchor codes -> the keys holding them (the stream filter's index) -- */

typedef struct {
    PyObject_HEAD
    uint64_t *codes;  /* slot: the code (stored + 1; 0: empty) */
    int64_t *heads;   /* slot: last posting of the code */
    int64_t *sizes;   /* slot: keys holding the code */
    Py_ssize_t n_slots, n_codes;
    int64_t *post_key, *post_next; /* postings, linked newest first */
    Py_ssize_t n_post, cap_post;
} CodeIndex;

static void cx_dealloc(CodeIndex *self) {
    free(self->codes); free(self->heads); free(self->sizes); free(self->post_key); free(self->post_next);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *cx_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    CodeIndex *self = (CodeIndex *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->n_slots = 4096;
    self->codes = calloc((size_t)self->n_slots, 8);
    self->heads = malloc((size_t)self->n_slots * 8);
    self->sizes = malloc((size_t)self->n_slots * 8);
    self->cap_post = 4096;
    self->post_key = malloc((size_t)self->cap_post * 8);
    self->post_next = malloc((size_t)self->cap_post * 8);
    if (!self->codes || !self->heads || !self->sizes || !self->post_key || !self->post_next) { Py_DECREF(self); return PyErr_NoMemory(); }
    return (PyObject *)self;
}

static Py_ssize_t cx_slot(const CodeIndex *self, uint64_t code) {
    uint64_t mask = (uint64_t)(self->n_slots - 1), pos = mix64(code) & mask;
    while (self->codes[pos] && self->codes[pos] != code + 1) pos = (pos + 1) & mask;
    return (Py_ssize_t)pos;
}

static int cx_grow(CodeIndex *self) {
    Py_ssize_t n_slots = self->n_slots * 2;
    uint64_t *codes = calloc((size_t)n_slots, 8);
    int64_t *heads = malloc((size_t)n_slots * 8), *sizes = malloc((size_t)n_slots * 8);
    if (!codes || !heads || !sizes) { free(codes); free(heads); free(sizes); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < self->n_slots; i++) {
        if (!self->codes[i]) continue;
        uint64_t mask = (uint64_t)(n_slots - 1), pos = mix64(self->codes[i] - 1) & mask;
        while (codes[pos]) pos = (pos + 1) & mask;
        codes[pos] = self->codes[i];
        heads[pos] = self->heads[i];
        sizes[pos] = self->sizes[i];
    }
    free(self->codes); free(self->heads); free(self->sizes);
    self->codes = codes; self->heads = heads; self->sizes = sizes;
    self->n_slots = n_slots;
    return 0;
}

/* add(codes uint64, key): the key holds these codes (distinct) */
static PyObject *cx_add(CodeIndex *self, PyObject *args) {
    PyObject *obj;
    long long key;
    if (!PyArg_ParseTuple(args, "OL", &obj, &key)) return NULL;
    Py_buffer v;
    if (buffer_of(obj, &v, 8, "codes") < 0) return NULL;
    const uint64_t *codes = v.buf;
    Py_ssize_t n = v.len / 8;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (2 * (self->n_codes + 1) > self->n_slots && cx_grow(self) < 0) goto done;
        if (self->n_post == self->cap_post) {
            Py_ssize_t cap = self->cap_post * 2;
            int64_t *k = realloc(self->post_key, (size_t)cap * 8);
            if (!k) { PyErr_NoMemory(); goto done; }
            self->post_key = k;
            int64_t *nx = realloc(self->post_next, (size_t)cap * 8);
            if (!nx) { PyErr_NoMemory(); goto done; }
            self->post_next = nx;
            self->cap_post = cap;
        }
        Py_ssize_t slot = cx_slot(self, codes[i]);
        if (!self->codes[slot]) {
            self->codes[slot] = codes[i] + 1;
            self->heads[slot] = -1;
            self->sizes[slot] = 0;
            self->n_codes++;
        }
        self->post_key[self->n_post] = key;
        self->post_next[self->n_post] = self->heads[slot];
        self->heads[slot] = self->n_post++;
        self->sizes[slot]++;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&v);
    return result;
}

/* sizes(codes) -> int64: how many keys hold each code */
static PyObject *cx_sizes(CodeIndex *self, PyObject *obj) {
    Py_buffer v;
    if (buffer_of(obj, &v, 8, "codes") < 0) return NULL;
    Py_ssize_t n = v.len / 8;
    int64_t *out = malloc((size_t)(n ? n : 1) * 8);
    PyObject *result = NULL;
    if (!out) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t slot = cx_slot(self, ((const uint64_t *)v.buf)[i]);
        out[i] = self->codes[slot] ? self->sizes[slot] : 0;
    }
    result = bytes_of(out, n * 8);
done:
    free(out);
    PyBuffer_Release(&v);
    return result;
}

/* holders(codes) -> (keys int64, counts int64): every key holding one of the codes, with how
 * many of them it holds, keys ascending */
static PyObject *cx_holders(CodeIndex *self, PyObject *obj) {
    Py_buffer v;
    if (buffer_of(obj, &v, 8, "codes") < 0) return NULL;
    Py_ssize_t n = v.len / 8, total = 0;
    PyObject *result = NULL;
    int64_t *keys = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t slot = cx_slot(self, ((const uint64_t *)v.buf)[i]);
        if (self->codes[slot]) total += self->sizes[slot];
    }
    keys = malloc((size_t)(total ? total : 1) * 8);
    if (!keys) { PyErr_NoMemory(); goto done; }
    Py_ssize_t m = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t slot = cx_slot(self, ((const uint64_t *)v.buf)[i]);
        if (!self->codes[slot]) continue;
        for (int64_t p = self->heads[slot]; p >= 0; p = self->post_next[p]) keys[m++] = self->post_key[p];
    }
    sort_u64((uint64_t *)keys, m); /* key ids are >= 0 */
    Py_ssize_t d = 0;
    int64_t *counts = malloc((size_t)(m ? m : 1) * 8);
    if (!counts) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < m; i++) {
        if (d && keys[d - 1] == keys[i]) counts[d - 1]++;
        else { keys[d] = keys[i]; counts[d++] = 1; }
    }
    result = bytes_tuple(2, keys, (Py_ssize_t)(d * 8), counts, (Py_ssize_t)(d * 8));
    free(counts);
done:
    free(keys);
    PyBuffer_Release(&v);
    return result;
}

/* holder_pairs(codes, owners) -> (owners int64, keys int64): one row per posting of each code,
 * the code's owner (the query it belongs to) beside the key holding it: the postings of many
 * lookups at once, for numpy to count and rank */
static PyObject *cx_holder_pairs(CodeIndex *self, PyObject *args) {
    PyObject *codes_obj, *owners_obj;
    if (!PyArg_ParseTuple(args, "OO", &codes_obj, &owners_obj)) return NULL;
    Py_buffer v, w;
    if (buffer_of(codes_obj, &v, 8, "codes") < 0) return NULL;
    if (buffer_of(owners_obj, &w, 8, "owners") < 0) { PyBuffer_Release(&v); return NULL; }
    PyObject *result = NULL;
    int64_t *out_owner = NULL, *out_key = NULL;
    Py_ssize_t n = v.len / 8, total = 0, m = 0;
    if (w.len / 8 != n) { PyErr_SetString(PyExc_ValueError, "codes and owners differ in length"); goto done; }
    const uint64_t *codes = v.buf;
    const int64_t *owners = w.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t slot = cx_slot(self, codes[i]);
        if (self->codes[slot]) total += self->sizes[slot];
    }
    out_owner = malloc((size_t)(total ? total : 1) * 8);
    out_key = malloc((size_t)(total ? total : 1) * 8);
    if (!out_owner || !out_key) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t slot = cx_slot(self, codes[i]);
        if (!self->codes[slot]) continue;
        for (int64_t p = self->heads[slot]; p >= 0; p = self->post_next[p]) {
            out_owner[m] = owners[i];
            out_key[m++] = self->post_key[p];
        }
    }
    result = bytes_tuple(2, out_owner, (Py_ssize_t)(m * 8), out_key, (Py_ssize_t)(m * 8));
done:
    free(out_owner); free(out_key);
    PyBuffer_Release(&v); PyBuffer_Release(&w);
    return result;
}

static PyObject *cx_nbytes(CodeIndex *self, PyObject *unused) {
    return PyLong_FromSsize_t(self->n_slots * 24 + self->cap_post * 16);
}

static PyMethodDef cx_methods[] = {
    {"add", (PyCFunction)cx_add, METH_VARARGS, "add(codes, key): the key holds these distinct codes"},
    {"sizes", (PyCFunction)cx_sizes, METH_O, "how many keys hold each code (int64)"},
    {"holders", (PyCFunction)cx_holders, METH_O, "(keys, counts) of the keys holding any of the codes"},
    {"holder_pairs", (PyCFunction)cx_holder_pairs, METH_VARARGS, "(owners, keys): a row per posting of each code, beside the code's owner"},
    {"nbytes", (PyCFunction)cx_nbytes, METH_NOARGS, "memory held, in bytes"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CodeIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dedup._core.CodeIndex",
    .tp_basicsize = sizeof(CodeIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Band and anchor codes -> the keys holding them, in memory.",
    .tp_new = cx_new,
    .tp_dealloc = (destructor)cx_dealloc,
    .tp_methods = cx_methods,
};


/* components(n, a, b) -> int64 labels: connected components of n nodes and the undirected
 * edges (a[i], b[i]), numbered in the order of their smallest node (as scipy's
 * connected_components numbers them). Union-find with path halving, union by smaller root. */
static PyObject *components(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *oa, *ob;
    if (!PyArg_ParseTuple(args, "nOO", &n, &oa, &ob)) return NULL;
    if (n < 0) { PyErr_SetString(PyExc_ValueError, "components: n must be >= 0"); return NULL; }
    Py_buffer va, vb;
    if (buffer_of(oa, &va, 8, "a") < 0) return NULL;
    if (buffer_of(ob, &vb, 8, "b") < 0) { PyBuffer_Release(&va); return NULL; }
    PyObject *result = NULL;
    const int64_t *a = va.buf, *b = vb.buf;
    Py_ssize_t m = va.len / 8;
    int64_t *parent = malloc((size_t)(n ? n : 1) * 8), *label = NULL;
    if (!parent) { PyErr_NoMemory(); goto done; }
    if (vb.len != va.len) { PyErr_SetString(PyExc_ValueError, "components: a and b differ in length"); goto done; }
    for (Py_ssize_t i = 0; i < m; i++)
        if (a[i] < 0 || a[i] >= n || b[i] < 0 || b[i] >= n) { PyErr_SetString(PyExc_IndexError, "components: node out of range"); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) parent[i] = i;
    for (Py_ssize_t i = 0; i < m; i++) {
        int64_t x = a[i], y = b[i];
        while (parent[x] != x) { parent[x] = parent[parent[x]]; x = parent[x]; }
        while (parent[y] != y) { parent[y] = parent[parent[y]]; y = parent[y]; }
        if (x == y) continue;
        if (x < y) parent[y] = x; else parent[x] = y; /* the root is the smallest node */
    }
    label = malloc((size_t)(n ? n : 1) * 8);
    if (!label) { PyErr_NoMemory(); goto done; }
    int64_t next = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t r = i;
        while (parent[r] != r) r = parent[r];
        parent[i] = r;
        label[i] = r == i ? next++ : label[r]; /* a root is its component's smallest node */
    }
    result = bytes_of(label, n * 8);
done:
    free(parent); free(label);
    PyBuffer_Release(&va); PyBuffer_Release(&vb);
    return result;
}

/* pair_intersections(data, offsets, a, b, k, dense_k, seed) -> int64 |A_i & B_i|: the shingle
 * sets of the keys a[i] and b[i] of a UTF-8 buffer, as shingle_sets makes them, intersected
 * through a hash set of A (no sort); the set of a[i] is reused while a stays the same. Each
 * shingle of b[i] found in A stamps its slot with the pair's number, so a shingle repeated in
 * b[i] counts once without a set of B: building and clearing one for every pair was a third
 * of the time (4.1 -> 3.6 us a pair on the 742,721 candidates of a 400 MB dump, one thread). */
static PyObject *pair_intersections(PyObject *self, PyObject *args) {
    PyObject *data, *offsets, *oa, *ob;
    int k, dense_k;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "OOOOiiK", &data, &offsets, &oa, &ob, &k, &dense_k, &seed)) return NULL;
    if (k < 1) { PyErr_SetString(PyExc_ValueError, "pair_intersections: k must be at least 1"); return NULL; }
    keyview kv;
    int got = keyview_open(&kv, data, offsets, Py_None);
    if (got < 0) return NULL;
    Py_buffer va, vb;
    if (buffer_of(oa, &va, 8, "a") < 0) { keyview_release(&kv, got); return NULL; }
    if (buffer_of(ob, &vb, 8, "b") < 0) { PyBuffer_Release(&va); keyview_release(&kv, got); return NULL; }
    PyObject *result = NULL;
    const int64_t *a = va.buf, *b = vb.buf;
    Py_ssize_t n = va.len / 8;
    int64_t *out = malloc((size_t)(n ? n : 1) * 8);
    u64buf hashes = {0};
    idset set_a = {{0}, 0};
    u64buf stamp = {0}; /* per slot of set_a: 1 + the last pair that counted its id */
    cpbuf cps = {0};
    int64_t current = -1;
    if (!out) { PyErr_NoMemory(); goto done; }
    if (vb.len != va.len) { PyErr_SetString(PyExc_ValueError, "pair_intersections: a and b differ in length"); goto done; }
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] < 0 || a[i] >= kv.n_store || b[i] < 0 || b[i] >= kv.n_store) { PyErr_SetString(PyExc_IndexError, "pair_intersections: key index out of range"); goto done; }
    int failed = 0;
    /* the buffers stay held (and so unchanged) while the GIL is let go of */
    PyThreadState *released = PyEval_SaveThread();
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        if (a[i] != current) {
            current = a[i];
            if (decode_utf8(kv.bytes + kv.off[current], kv.off[current + 1] - kv.off[current], &cps) < 0) { failed = 1; break; }
            hashes.len = 0;
            Py_ssize_t m = key_shingles(cps.data, cps.len, k, dense_k, seed, &hashes);
            if (m < 0 || idset_clear(&set_a, m) < 0 || u64_reserve(&stamp, (Py_ssize_t)set_a.mask + 1) < 0) { failed = 1; break; }
            memset(stamp.data, 0, (size_t)(set_a.mask + 1) * 8);
            for (Py_ssize_t h = 0; h < m; h++) idset_add(&set_a, hashes.data[h] >> SHINGLE_ID_SHIFT);
        }
        int64_t other = b[i];
        if (decode_utf8(kv.bytes + kv.off[other], kv.off[other + 1] - kv.off[other], &cps) < 0) { failed = 1; break; }
        hashes.len = 0;
        Py_ssize_t m = key_shingles(cps.data, cps.len, k, dense_k, seed, &hashes);
        if (m < 0) { failed = 1; break; }
        /* distinct ids of b that a holds: each one's slot in a counted the first time */
        int64_t common = 0;
        uint64_t mark = (uint64_t)i + 1;
        for (Py_ssize_t h = 0; h < m; h++) {
            Py_ssize_t slot = idset_slot(&set_a, hashes.data[h] >> SHINGLE_ID_SHIFT);
            if (slot >= 0 && stamp.data[slot] != mark) {
                stamp.data[slot] = mark;
                common++;
            }
        }
        out[i] = common;
    }
    PyEval_RestoreThread(released);
    if (!failed) result = bytes_of(out, n * 8);
done:
    free(out); free(hashes.data); free(set_a.table.data); free(stamp.data); free(cps.data);
    PyBuffer_Release(&va); PyBuffer_Release(&vb);
    keyview_release(&kv, got);
    return result;
}

/* read_keys(fd, offsets, indexes) -> (bytes, int64 offsets): the keys ``indexes`` (ascending,
 * distinct) of a key file, read with pread into one buffer, neighbours within a page in one read:
 * a map of the file counted every page the kernel faulted in around each key as the reader's. */
static PyObject *read_keys(PyObject *self, PyObject *args) {
    int fd;
    PyObject *oo, *oi;
    if (!PyArg_ParseTuple(args, "iOO", &fd, &oo, &oi)) return NULL;
    Py_buffer vo, vi;
    if (buffer_of(oo, &vo, 8, "offsets") < 0) return NULL;
    if (buffer_of(oi, &vi, 8, "indexes") < 0) { PyBuffer_Release(&vo); return NULL; }
    const int64_t *off = vo.buf, *idx = vi.buf;
    Py_ssize_t n_store = vo.len / 8 - 1, n = vi.len / 8, total = 0;
    PyObject *result = NULL;
    int64_t *out_off = malloc((size_t)(n + 1) * 8);
    char *buf = NULL;
    if (!out_off) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= n_store || (i && idx[i] <= idx[i - 1])) { PyErr_SetString(PyExc_ValueError, "read_keys: indexes must be ascending, distinct, in range"); goto done; }
        total += off[idx[i] + 1] - off[idx[i]];
    }
    buf = malloc((size_t)(total ? total : 1));
    if (!buf) { PyErr_NoMemory(); goto done; }
    out_off[0] = 0;
    Py_ssize_t i = 0, at = 0;
    while (i < n) {
        /* a run of keys whose gaps are under a page: one read, the gaps dropped after */
        Py_ssize_t j = i;
        while (j + 1 < n && off[idx[j + 1]] - off[idx[j] + 1] < 4096 && off[idx[j + 1] + 1] - off[idx[i]] < (1 << 20)) j++;
        int64_t from = off[idx[i]], to = off[idx[j] + 1];
        char *run = malloc((size_t)(to - from ? to - from : 1));
        if (!run) { PyErr_NoMemory(); goto done; }
        int64_t got = 0;
        while (got < to - from) {
            ssize_t r;
            Py_BEGIN_ALLOW_THREADS
            r = pread(fd, run + got, (size_t)(to - from - got), (off_t)(from + got));
            Py_END_ALLOW_THREADS
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) { free(run); if (r < 0) PyErr_SetFromErrno(PyExc_OSError); else PyErr_SetString(PyExc_OSError, "read_keys: the key file is shorter than its offsets"); goto done; }
            got += r;
        }
        for (Py_ssize_t k = i; k <= j; k++) {
            int64_t len = off[idx[k] + 1] - off[idx[k]];
            memcpy(buf + at, run + (off[idx[k]] - from), (size_t)len);
            at += len;
            out_off[k + 1] = at;
        }
        free(run);
        i = j + 1;
    }
    result = bytes_tuple(2, buf, (Py_ssize_t)total, out_off, (Py_ssize_t)((n + 1) * 8));
done:
    free(out_off); free(buf);
    PyBuffer_Release(&vo); PyBuffer_Release(&vi);
    return result;
}
static PyMethodDef methods[] = {
    {"set_tables", set_tables, METH_VARARGS, "Load the character tables that dedup.compiled builds."},
    {"set_t2s", set_t2s, METH_VARARGS, "Load OpenCC's t2s conversion by character and its multi-character keys."},
    {"normalize_key", normalize_key, METH_VARARGS, "normalize_key(text, convert): the key of a paragraph, or None (the Python path)."},
    {"normalize_spans", normalize_spans, METH_VARARGS, "Keys of the paragraphs text[starts[i]:ends[i]] of one document."},
    {"paragraph_spans", paragraph_spans, METH_VARARGS, "Rows (line_start, line_end, char_start, char_end) of a document's paragraphs."},
    {"decode_utf8", decode_utf8_text, METH_O, "decode_utf8(data): str of well-formed UTF-8 (decoded without the interpreter lock), else None."},
    {"set_hasher", set_hasher, METH_O, "set_hasher(address): xxhash's XXH3_128bits, for prepare_text's fingerprints."},
    {"prepare_text", prepare_text, METH_VARARGS, "Spans, keys, key ends and fingerprints of a document's paragraphs, in one call."},
    {"pair_intersections", pair_intersections, METH_VARARGS, "Intersection sizes of the shingle sets of pairs of keys of a UTF-8 buffer."},
    {"read_keys", read_keys, METH_VARARGS, "Keys of a key file read with pread into one buffer."},
    {"components", components, METH_VARARGS, "Connected component labels of n nodes and undirected edges."},
    {"sign", sign, METH_VARARGS, "Set sizes, band hashes and anchors of a batch of UTF-8 keys."},
    {"shingle_sets", shingle_sets, METH_VARARGS, "Sorted distinct shingle ids of a batch of UTF-8 keys."},
    {"intersections", intersections, METH_VARARGS, "Intersection sizes of pairs of sorted id sets."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_core", "dedup's compiled hot path", -1, methods};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&FingerprintIndexType) < 0 || PyType_Ready(&CodeIndexType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&FingerprintIndexType);
    if (PyModule_AddObject(m, "FingerprintIndex", (PyObject *)&FingerprintIndexType) < 0) {
        Py_DECREF(&FingerprintIndexType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&CodeIndexType);
    if (PyModule_AddObject(m, "CodeIndex", (PyObject *)&CodeIndexType) < 0) {
        Py_DECREF(&CodeIndexType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
