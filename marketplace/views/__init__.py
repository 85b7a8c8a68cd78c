"""Server-rendered pages. Views are thin: parse input, call one service or selector, render."""
