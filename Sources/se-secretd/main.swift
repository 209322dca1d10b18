print("se-secretd")
