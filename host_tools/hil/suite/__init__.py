"""The behaviour suite: the same test bodies on a virtual board (make test) and on real boards
(earshot hil --port P). Tests ask for `board` and `client` (host_tools.hil.fixtures).
"""
