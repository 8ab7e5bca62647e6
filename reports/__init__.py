"""Pure rendering of what people read: data in, Markdown/HTML/PNG out, in zh-CN and en."""
