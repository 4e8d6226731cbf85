"""What a `moac plot` picture holds, one fact a line, for tests/cli/test_plot.sh to grep.

usage: svg_summary.py FILE.svg

Parses the file as XML (a picture that is not well-formed XML fails here, exit 1) and prints
  panel RUN KEY               each <g class="panel"> (RUN "-" when it is not one run's)
  line CLASS RUN KEY POINTS   each <polyline>, with its number of points
  band RUN KEY                each <polygon class="band">
  circle                      each lone <circle> (a line of one point)
  legend LABEL                each legend entry's label
  title TEXT                  the document's <title>
"""
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"


def main(path):
    root = ET.parse(path).getroot()
    if root.tag != NS + "svg":
        sys.exit("%s: the root element is %s, not svg" % (path, root.tag))
    title = root.find(NS + "title")
    print("title", title.text if title is not None else "")
    for g in root.iter(NS + "g"):
        cls = g.get("class")
        if cls == "panel":
            print("panel", g.get("data-run", "-"), g.get("data-key", "-"))
        elif cls == "legend":
            text = g.find(NS + "text")
            print("legend", text.text if text is not None else "")
        if cls != "panel":
            continue
        for el in g:
            if el.tag == NS + "polyline":
                points = el.get("points", "").split()
                print("line", el.get("class"), el.get("data-run"), el.get("data-key"), len(points))
            elif el.tag == NS + "polygon" and el.get("class") == "band":
                print("band", el.get("data-run", "-"), el.get("data-key", "-"))
            elif el.tag == NS + "circle":
                print("circle")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
