print("lbctl")
