"""stillhouse.serve"""
