"""stillhouse.evaluate"""
