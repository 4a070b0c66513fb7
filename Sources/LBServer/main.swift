print("lbserver")
