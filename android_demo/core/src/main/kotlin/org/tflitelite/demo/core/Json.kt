package org.tflitelite.demo.core

/**
 * A small JSON reader (objects, arrays, strings, numbers, booleans, null) so that the core
 * needs nothing beyond the Kotlin standard library. Objects become `Map<String, Any?>`, arrays
 * `List<Any?>`, numbers `Double`.
 */
object Json {
    fun parse(text: String): Any? {
        val reader = Reader(text)
        val value = reader.value()
        reader.skipSpace()
        if (!reader.atEnd()) reader.fail("unexpected text after the JSON value")
        return value
    }

    private class Reader(val text: String) {
        var pos = 0

        fun atEnd() = pos >= text.length

        fun fail(message: String): Nothing =
            throw IllegalArgumentException("invalid JSON at character $pos: $message")

        fun skipSpace() {
            while (!atEnd() && text[pos].isWhitespace()) pos++
        }

        fun value(): Any? {
            skipSpace()
            if (atEnd()) fail("unexpected end")
            return when (val c = text[pos]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c.isDigit()) number() else fail("unexpected '$c'")
            }
        }

        fun literal(word: String, result: Any?): Any? {
            if (!text.startsWith(word, pos)) fail("expected $word")
            pos += word.length
            return result
        }

        fun obj(): Map<String, Any?> {
            val result = LinkedHashMap<String, Any?>()
            pos++
            skipSpace()
            if (!atEnd() && text[pos] == '}') { pos++; return result }
            while (true) {
                skipSpace()
                if (atEnd() || text[pos] != '"') fail("expected a key")
                val key = string()
                skipSpace()
                if (atEnd() || text[pos] != ':') fail("expected ':'")
                pos++
                result[key] = value()
                skipSpace()
                if (atEnd()) fail("unterminated object")
                val separator = text[pos++]
                if (separator == '}') return result
                if (separator != ',') { pos--; fail("expected ',' or '}'") }
            }
        }

        fun array(): List<Any?> {
            val result = ArrayList<Any?>()
            pos++
            skipSpace()
            if (!atEnd() && text[pos] == ']') { pos++; return result }
            while (true) {
                result.add(value())
                skipSpace()
                if (atEnd()) fail("unterminated array")
                val separator = text[pos++]
                if (separator == ']') return result
                if (separator != ',') { pos--; fail("expected ',' or ']'") }
            }
        }

        fun string(): String {
            val out = StringBuilder()
            pos++
            while (true) {
                if (atEnd()) fail("unterminated string")
                val c = text[pos++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        if (atEnd()) fail("unterminated escape")
                        when (val e = text[pos++]) {
                            '"', '\\', '/' -> out.append(e)
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                if (pos + 4 > text.length) fail("short \\u escape")
                                out.append(text.substring(pos, pos + 4).toInt(16).toChar())
                                pos += 4
                            }
                            else -> fail("unknown escape \\$e")
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        fun number(): Double {
            val start = pos
            while (!atEnd() && (text[pos].isDigit() || text[pos] in "+-.eE")) pos++
            return text.substring(start, pos).toDoubleOrNull() ?: fail("bad number")
        }
    }
}
